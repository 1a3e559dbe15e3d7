using ProxyPlatform.Ctl;

return await Ppctl.RunAsync(args, CtlConsole.FromProcess());
