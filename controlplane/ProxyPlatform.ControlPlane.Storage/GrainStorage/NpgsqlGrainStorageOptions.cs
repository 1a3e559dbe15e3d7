using System.Text.Json;

namespace ProxyPlatform.ControlPlane.Storage;

/// <summary>Settings of one named <see cref="NpgsqlGrainStorage"/> provider.</summary>
public sealed class NpgsqlGrainStorageOptions
{
    /// <summary>
    /// How grain state is turned into the <c>jsonb</c> column. Defaults to
    /// <see cref="JsonSerializerDefaults.Web"/> (camelCase), so only public, settable properties
    /// (or constructor parameters) of the state type are persisted.
    /// </summary>
    public JsonSerializerOptions JsonSerializerOptions { get; set; } = new(JsonSerializerDefaults.Web);
}
