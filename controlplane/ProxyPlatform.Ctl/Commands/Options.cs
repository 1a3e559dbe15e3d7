using System.CommandLine;

namespace ProxyPlatform.Ctl.Commands;

/// <summary>Options several commands share, spelled the same everywhere.</summary>
public static class Options
{
    public static Option<string?> Tenant(bool required = false) => new("--tenant", "-t")
    {
        Description = "The tenant.",
        Required = required,
    };
}
