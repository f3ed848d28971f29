package dev.asyncpool.jdbc;

import dev.asyncpool.Lease;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLClientInfoException;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.Statement;
import java.util.Map;
import java.util.concurrent.Executor;

/**
 * A connection handed out by {@link TenantDataSource}: the real connection, the lease on its
 * tenant's {@code DataSource}, and whether it is closed, behind a {@link Proxy} of {@link
 * Connection}; {@link Dependent} proxies the statements, result sets and metadata made from it.
 *
 * <h2>Design</h2>
 *
 * <p>States: open, then closed, one way, by the CAS on {@link #closed} in {@link #close()} or
 * {@link #abort(Executor)}. The thread that wins it closes the real connection and then, in a
 * {@code finally}, closes the lease: the real connection goes back to the tenant's pool before the
 * tenant's pool may expire (never the other way round, or the TTL could close the tenant's pool
 * while its connection is being returned), and a close that throws still gives the lease back. A
 * lease's own close is idempotent as well; the CAS makes sure the real connection is closed once.
 *
 * <p>Every other call reads {@link #closed} first and throws once it is set. A call that read it
 * unset just before another thread's close runs against the real connection while it is being
 * closed, and gets the driver's {@link SQLException}: the lease goes back only after the real
 * close, so no call reaches a tenant's pool that the TTL has closed.
 *
 * <h2>Why proxies, not hand-written wrappers</h2>
 *
 * <p>Correctness: the guard is one check in one {@code invoke}, applied to every method of {@code
 * Connection}, {@code Statement}, {@code PreparedStatement}, {@code CallableStatement}, {@code
 * ResultSet} and {@code DatabaseMetaData} (some 650), and so is the wrapping of what they return.
 * Hand-written, that is 650 delegations in which a forgotten check or an unwrapped result is a
 * hole no compiler reports. A method a later JDK adds to these interfaces (as a default method,
 * JDBC's way) is forwarded to the driver; a hand-written class compiled today would silently run
 * the interface's default instead of the driver's.
 *
 * <p>Speed: each call costs a {@code Method.invoke} (method handles since JDK 18) and, for a
 * call with arguments, an {@code Object[]}: 4 to 10 ns over HikariCP alone (BENCHMARKS.md, {@code
 * TenantDataSourceCost}), against the microseconds of the least JDBC call that reaches a
 * database. The one loop where it shows is reading a large result set column by column, where
 * the driver does no I/O per call. Proxies are made per connection and per statement, each a
 * cached class's constructor call.
 */
final class LeasedConnection implements InvocationHandler {

  private static final VarHandle CLOSED;

  static {
    try {
      CLOSED =
          MethodHandles.lookup().findVarHandle(LeasedConnection.class, "closed", boolean.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** java.sql's own loader: the proxy classes pin no application class loader. */
  private static final ClassLoader LOADER = Connection.class.getClassLoader();

  private static final Class<?>[] CONNECTION = {Connection.class};
  private static final Class<?>[] STATEMENT = {Statement.class};
  private static final Class<?>[] PREPARED_STATEMENT = {PreparedStatement.class};
  private static final Class<?>[] CALLABLE_STATEMENT = {CallableStatement.class};
  private static final Class<?>[] RESULT_SET = {ResultSet.class};
  private static final Class<?>[] METADATA = {DatabaseMetaData.class};

  private final Connection target;
  private final Lease<?> lease;
  private final Connection proxy;
  private volatile boolean closed;

  private LeasedConnection(Connection target, Lease<?> lease) {
    this.target = target;
    this.lease = lease;
    this.proxy = (Connection) Proxy.newProxyInstance(LOADER, CONNECTION, this);
  }

  /** Wraps {@code target}, which now owns {@code lease}: its first close gives the lease back. */
  static Connection wrap(Connection target, Lease<?> lease) {
    return new LeasedConnection(target, lease).proxy;
  }

  @Override
  public Object invoke(Object self, Method method, Object[] args) throws Throwable {
    switch (method.getName()) {
      case "close":
        close();
        return null;
      case "isClosed":
        return closed;
      case "isValid":
        if (closed) {
          return false; // JDBC: false once closed, not an exception
        }
        break;
      case "abort":
        abort((Executor) args[0]);
        return null;
      case "equals":
        return self == args[0];
      case "hashCode":
        return System.identityHashCode(self);
      case "toString":
        return "TenantDataSource connection on " + lease;
      default:
        break;
    }
    return forward(this, self, target, method, args);
  }

  private void close() throws SQLException {
    // Two closes racing (the application and a framework's cleanup, say): one wins.
    if (!CLOSED.compareAndSet(this, false, true)) {
      return;
    }
    try {
      target.close();
    } finally {
      lease.close();
    }
  }

  private void abort(Executor executor) throws SQLException {
    if (!CLOSED.compareAndSet(this, false, true)) {
      return; // JDBC: aborting a closed connection does nothing
    }
    try {
      target.abort(executor);
    } finally {
      lease.close();
    }
  }

  /**
   * What a call on a closed connection throws: an exception {@code method} declares. Two methods
   * declare none ({@code DatabaseMetaData.getDriverMajorVersion} and {@code
   * getDriverMinorVersion}, constants of the driver): they are answered.
   */
  private Throwable closedException(String what, Method method) {
    String message = what + " is closed (" + lease + ")";
    for (Class<?> declared : method.getExceptionTypes()) {
      if (declared == SQLException.class) {
        return new SQLNonTransientConnectionException(message, "08003");
      }
      if (declared == SQLClientInfoException.class) { // Connection.setClientInfo
        return new SQLClientInfoException(message, "08003", 0, Map.of());
      }
    }
    return null;
  }

  /**
   * Calls {@code method} on {@code target} unless the connection is closed, and wraps what it
   * returns. Shared by the connection and its dependents; {@code handler} is the receiver's.
   */
  Object forward(
      InvocationHandler handler, Object self, Object target, Method method, Object[] args)
      throws Throwable {
    if (closed) {
      Throwable failure =
          closedException(
              handler == this ? "this connection" : "the connection of this " + kind(self),
              method);
      if (failure != null) {
        throw failure;
      }
    }
    switch (method.getName()) {
      case "unwrap":
        return unwrap(self, target, (Class<?>) args[0]);
      case "isWrapperFor":
        return isWrapperFor(self, target, (Class<?>) args[0]);
      default:
        break;
    }
    Object result;
    try {
      result = method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause(); // what the driver threw, which the method declares or is unchecked
    }
    Class<?> type = method.getReturnType();
    if (result == null || type.isPrimitive() || type == String.class) {
      return result; // the common case, decided without an instanceof
    }
    return wrapResult(result, self, target);
  }

  /** Wraps what the driver returned if it is tied to this connection. */
  private Object wrapResult(Object result, Object self, Object target) {
    if (result == target) {
      return self; // a method returning its receiver
    }
    if (result instanceof ResultSet) {
      return new Dependent(this, result, self, target).proxy(RESULT_SET);
    }
    if (result instanceof Statement) {
      if (self instanceof ResultSet && handlerOf(self).maker == result) {
        return handlerOf(self).makerProxy; // ResultSet.getStatement(): the wrapper that made it
      }
      Class<?>[] type =
          result instanceof CallableStatement
              ? CALLABLE_STATEMENT
              : result instanceof PreparedStatement ? PREPARED_STATEMENT : STATEMENT;
      return new Dependent(this, result, null, null).proxy(type);
    }
    if (result instanceof DatabaseMetaData) {
      return new Dependent(this, result, null, null).proxy(METADATA);
    }
    if (result instanceof Connection) {
      return proxy; // getConnection() of a statement or metadata: never the real one
    }
    return result;
  }

  private static Dependent handlerOf(Object proxy) {
    return (Dependent) Proxy.getInvocationHandler(proxy);
  }

  private static Object unwrap(Object self, Object target, Class<?> iface) throws SQLException {
    if (iface.isInstance(self)) {
      return self; // JDBC: the receiver if it implements iface; keeps the lease's guard
    }
    if (iface.isInstance(target)) {
      return target;
    }
    return ((java.sql.Wrapper) target).unwrap(iface);
  }

  private static boolean isWrapperFor(Object self, Object target, Class<?> iface)
      throws SQLException {
    return iface.isInstance(self)
        || iface.isInstance(target)
        || ((java.sql.Wrapper) target).isWrapperFor(iface);
  }

  private static String kind(Object self) {
    return self instanceof ResultSet
        ? "result set"
        : self instanceof Statement ? "statement" : "metadata";
  }

  /**
   * A statement, result set or metadata made from a {@link LeasedConnection}: every call goes
   * through the connection's guard; {@code close} and {@code isClosed} answer without the real
   * object once the connection is closed (which closed it).
   */
  static final class Dependent implements InvocationHandler {
    private final LeasedConnection connection;
    private final Object target;
    /** For a result set, the statement that made it, real and wrapped; otherwise null. */
    final Object maker;

    final Object makerProxy;

    Dependent(LeasedConnection connection, Object target, Object makerProxy, Object maker) {
      this.connection = connection;
      this.target = target;
      this.makerProxy = makerProxy instanceof Statement ? makerProxy : null;
      this.maker = makerProxy instanceof Statement ? maker : null;
    }

    Object proxy(Class<?>[] type) {
      return Proxy.newProxyInstance(LOADER, type, this);
    }

    @Override
    public Object invoke(Object self, Method method, Object[] args) throws Throwable {
      switch (method.getName()) {
        case "close":
          if (connection.closed) {
            return null; // closed with the connection; JDBC: closing again does nothing
          }
          break;
        case "isClosed":
          if (connection.closed) {
            return true;
          }
          break;
        case "equals":
          return self == args[0];
        case "hashCode":
          return System.identityHashCode(self);
        case "toString":
          return target.toString();
        default:
          break;
      }
      return connection.forward(this, self, target, method, args);
    }
  }
}
