namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>
/// One versioned step of the schema a component owns. <see cref="PostgresSchema"/> applies it once
/// per database, inside a transaction, and records it in <c>schema_migrations</c> under
/// (<paramref name="Component"/>, <paramref name="Version"/>). Once released, a migration's SQL
/// must never change: fix mistakes with a new version.
/// </summary>
/// <param name="Component">Who owns the tables, e.g. <c>grain-storage</c>; versions are numbered per component.</param>
/// <param name="Version">1, 2, 3… in the order they must be applied.</param>
/// <param name="Description">What it does, for the operator reading <c>schema_migrations</c>.</param>
/// <param name="Sql">One or more SQL statements; they run in a transaction, so no <c>CREATE INDEX CONCURRENTLY</c>.</param>
public sealed record SchemaMigration(string Component, int Version, string Description, string Sql);
