# Control-plane silo: REST admin, gRPC admin + data-plane stream, Orleans silo/gateway.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# The console's third-party assets (chart.js, js-yaml) come from npm at build.
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY . .
RUN dotnet publish controlplane/ProxyPlatform.ControlPlane/ProxyPlatform.ControlPlane.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
EXPOSE 5100 5101 11111 30000
ENTRYPOINT ["dotnet", "ProxyPlatform.ControlPlane.dll"]
