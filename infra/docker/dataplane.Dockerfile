# Data-plane worker: YARP proxy listener and ops listener.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish dataplane/ProxyPlatform.DataPlane/ProxyPlatform.DataPlane.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
VOLUME /var/lib/proxyplatform
EXPOSE 8080 9090
ENTRYPOINT ["dotnet", "ProxyPlatform.DataPlane.dll"]
