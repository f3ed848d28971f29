package dev.asyncpool.examples;

import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/**
 * A tenant's note, the entity of the Hibernate example: each tenant's database has its own
 * {@code note} table, made by {@link TenantJdbcExample.Tenants#dataSource} when the tenant's
 * connection pool is created (a migration per tenant database, as Flyway would run it).
 */
@Entity
@Table(name = "note")
public class Note {
  @Id
  @GeneratedValue(strategy = GenerationType.IDENTITY)
  private Long id;

  private String text;

  /** For Hibernate. */
  protected Note() {}

  /**
   * A new note.
   *
   * @param text what it says
   */
  public Note(String text) {
    this.text = text;
  }

  /**
   * Returns what it says.
   *
   * @return the note's text
   */
  public String text() {
    return text;
  }

  /**
   * Returns the id its tenant's database gave it.
   *
   * @return the id, or null before it was saved
   */
  public Long id() {
    return id;
  }
}
