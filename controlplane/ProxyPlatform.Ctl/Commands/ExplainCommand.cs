using System.CommandLine;
using System.Text.Json.Nodes;
using ProxyPlatform.Ctl.Http;
using ProxyPlatform.Ctl.Output;

namespace ProxyPlatform.Ctl.Commands;

/// <summary>
/// <c>ppctl explain --tenant T --method GET --host H --path P [--header "name: value"]... [--worker ID]</c>:
/// <c>POST /v1/tenants/{t}/explain</c>, printed as the route that takes the request, why each other route
/// lost, the path the backend sees, the cluster with its backends and the next pick, and the limits.
/// </summary>
public static class ExplainCommand
{
    public static Command Create(Session session)
    {
        var tenant = Options.Tenant(required: true);
        var method = new Option<string>("--method", "-X") { Description = "The request's method.", DefaultValueFactory = _ => "GET" };
        var host = new Option<string>("--host") { Description = "The request's Host.", Required = true };
        var path = new Option<string>("--path") { Description = "The request's path, as sent (percent-encoded), without a query.", DefaultValueFactory = _ => "/" };
        var headers = new Option<string[]>("--header", "-H") { Description = "A request header, 'name: value' (repeatable).", AllowMultipleArgumentsPerToken = false };
        headers.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (!token.Value.Contains(':', StringComparison.Ordinal) || token.Value.IndexOf(':', StringComparison.Ordinal) == 0)
                    result.AddError($"--header: '{token.Value}' is not 'name: value'.");
        });
        var worker = new Option<string?>("--worker", "-w") { Description = "Ask this worker about its applied configuration instead of the control plane." };
        var output = Outputs.Option();
        var command = new Command("explain", "Which route, backend and limits a request would get, and why.") { tenant, method, host, path, headers, worker, output };
        command.SetAction(async (parse, ct) =>
        {
            var headerObject = new JsonObject();
            foreach (var header in parse.GetValue(headers) ?? [])
            {
                var colon = header.IndexOf(':', StringComparison.Ordinal);
                headerObject[header[..colon].Trim()] = header[(colon + 1)..].Trim();
            }
            var query = new JsonObject
            {
                ["method"] = parse.GetValue(method),
                ["host"] = parse.GetRequiredValue(host),
                ["path"] = parse.GetValue(path),
                ["headers"] = headerObject,
            };
            var url = ControlPlaneClient.WithQuery($"v1/tenants/{ControlPlaneClient.Segment(parse.GetRequiredValue(tenant)!)}/explain", "worker", parse.GetValue(worker));
            var answer = await session.Client().PostAsync(url, query, ct);
            if (!Outputs.TryWriteData(session.Out, parse.GetValue(output), answer))
                Write(session.Out, answer);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static void Write(TextWriter output, JsonNode? answer)
    {
        var request = answer?["request"];
        var from = Text(answer?["source"]) == "worker" ? $"worker {Text(answer?["worker"])}" : "control plane";
        output.WriteLine($"Request:      {Text(request?["method"])} {Text(request?["host"])}{Text(request?["path"])}"
            + (request?["normalizedPath"] is { } normalized && Text(normalized) != Text(request?["path"]) ? $" (normalised: {Text(normalized)})" : ""));
        output.WriteLine($"Answered by:  {from}, revision {Outputs.Cell(answer?["revision"])}");
        output.WriteLine($"Outcome:      {Text(answer?["outcome"])}: {Text(answer?["reason"])}");
        output.WriteLine($"Route:        {Outputs.Cell(answer?["route"])}");

        if (answer?["routes"] is JsonArray { Count: > 0 } routes)
        {
            output.WriteLine();
            output.WriteLine("Routes considered:");
            var table = new Table("", "ROUTE", "HOSTS", "PATH PREFIX", "METHODS", "PRIORITY", "LOST ON", "WHY");
            foreach (var route in routes)
            {
                var selected = route?["selected"] is JsonValue v && v.TryGetValue<bool>(out var s) && s;
                table.Add(selected ? "*" : " ", Outputs.Cell(route?["route"]), Outputs.Cell(route?["hosts"]), Outputs.Cell(route?["pathPrefix"]),
                    Outputs.Cell(route?["methods"]), Outputs.Cell(route?["priority"]), selected ? "(takes it)" : Outputs.Cell(route?["lostOn"]), Outputs.Cell(route?["reason"]));
            }
            table.WriteTo(output);
            if (answer?["routesOmitted"] is JsonValue omitted && omitted.TryGetValue<int>(out var more) && more > 0)
                output.WriteLine($"  ... and {more} more");
        }

        if (answer?["backendPath"] is { } backendPath)
        {
            output.WriteLine();
            output.WriteLine($"Backend path: {Text(backendPath)}");
        }

        if (answer?["cluster"] is JsonObject cluster)
        {
            var exists = cluster["exists"] is not JsonValue e || !e.TryGetValue<bool>(out var there) || there;
            output.WriteLine($"Cluster:      {Text(cluster["id"])}{(exists ? $" ({Text(cluster["loadBalancing"])})" : " (does not exist)")}");
            if (cluster["backends"] is JsonArray { Count: > 0 } backends)
            {
                var table = new Table("  BACKEND", "ADDRESS", "WEIGHT", "ENABLED", "VERDICT", "ROUTABLE", "CIRCUIT", "IN FLIGHT");
                foreach (var b in backends)
                    table.Add("  " + Outputs.Cell(b?["id"]), Outputs.Cell(b?["address"]), Outputs.Cell(b?["weight"]), Outputs.Cell(b?["enabled"]),
                        Outputs.Cell(b?["verdict"]), Outputs.Cell(b?["routable"]), Outputs.Cell(b?["circuit"]), Outputs.Cell(b?["inFlight"]));
                table.WriteTo(output);
            }
            if (cluster["next"] is JsonObject next)
            {
                var prediction = next["prediction"] is JsonValue p && p.TryGetValue<bool>(out var predicted) && predicted;
                output.WriteLine($"Next pick:    {Outputs.Cell(next["backend"])}{(prediction ? " (predicted)" : "")}: {Text(next["basis"])}");
            }
        }

        if (answer?["limits"] is JsonObject limits)
        {
            output.WriteLine("Limits:");
            var body = limits["maxRequestBodyBytes"];
            output.WriteLine($"  body:       {(body?["effective"] is { } effective ? $"{Outputs.Cell(effective)} bytes" : "the worker's ceiling")} ({Text(body?["basis"])})");
            output.WriteLine(limits["rateLimit"] is JsonObject rate
                ? $"  rate:       {Outputs.Cell(rate["requestsPerSecond"])}/s, burst {Outputs.Cell(rate["burst"])}, per {Text(rate["key"])}"
                : "  rate:       none");
            output.WriteLine($"  timeout:    {Seconds(limits["timeoutSeconds"])} (connect {Seconds(limits["connectTimeoutSeconds"])}, response headers {Seconds(limits["responseHeadersTimeoutSeconds"])}, idle {Seconds(limits["idleTimeoutSeconds"])})");
        }
    }

    private static string Text(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : Outputs.Cell(node);

    private static string Seconds(JsonNode? node) => node is null ? "none" : $"{Outputs.Cell(node)} s";
}
