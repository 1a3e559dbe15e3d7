using Microsoft.AspNetCore.Http;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.LoadBalancing;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Tests.LoadBalancing;

public sealed class SessionAffinityTests
{
    private static readonly Backend[] Backends =
    [
        new("a", "http://10.0.0.5:8080", 1, new BackendState()),
        new("b", "http://10.0.0.6:8080", 1, new BackendState()),
    ];

    private static SessionAffinity Affinity(string mode, string cluster = "web") =>
        new(new SessionAffinitySpec { Mode = mode, Name = "pp-sticky" }, ResourceKey.OfCluster("acme", cluster), Backends);

    [Fact]
    public void Keys_are_stable_per_cluster_and_backend_and_name_neither_the_backend_nor_its_address()
    {
        var affinity = Affinity("cookie");
        var key = affinity.KeyFor(Backends[1]);

        Assert.Equal(key, Affinity("cookie").KeyFor(Backends[1]));
        Assert.NotEqual(key, affinity.KeyFor(Backends[0]));
        Assert.NotEqual(key, Affinity("cookie", "api").KeyFor(Backends[1]));
        Assert.Matches("^[0-9a-f]{16}$", key);
        Assert.Equal(1, affinity.Find(key));
        Assert.Equal(0, affinity.Find(affinity.KeyFor(Backends[0])));
        Assert.Equal(-1, affinity.Find(Affinity("cookie", "api").KeyFor(Backends[1])));
        Assert.Equal(-1, affinity.Find(null));
    }

    [Fact]
    public void The_key_is_read_from_the_cookie_or_the_header_the_cluster_names()
    {
        var request = new DefaultHttpContext().Request;
        request.Headers.Cookie = "other=1; pp-sticky=abc";
        request.Headers["pp-sticky"] = "def";

        Assert.Equal("abc", Affinity("cookie").KeyOf(request));
        Assert.Equal("def", Affinity("header").KeyOf(request));

        var without = new DefaultHttpContext().Request;
        without.Headers["pp-sticky"] = "";
        Assert.Null(Affinity("cookie").KeyOf(without));
        Assert.Null(Affinity("header").KeyOf(without));
    }

    [Fact]
    public void The_client_is_told_the_key_of_the_backend_that_answered_unless_it_sent_that_key()
    {
        var cookie = Affinity("cookie");
        IHeaderDictionary headers = new HeaderDictionary();
        cookie.WriteKey(headers, Backends[0], presented: cookie.KeyFor(Backends[1]));
        Assert.Equal($"pp-sticky={cookie.KeyFor(Backends[0])}; Path=/; HttpOnly; SameSite=Lax", headers.SetCookie.ToString());

        var again = new HeaderDictionary();
        cookie.WriteKey(again, Backends[0], presented: cookie.KeyFor(Backends[0]));
        Assert.Empty(again);

        var header = Affinity("header");
        var byHeader = new HeaderDictionary();
        header.WriteKey(byHeader, Backends[1], presented: null);
        Assert.Equal(header.KeyFor(Backends[1]), byHeader["pp-sticky"]);
        Assert.False(byHeader.ContainsKey("Set-Cookie"));
    }
}
