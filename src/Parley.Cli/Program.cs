using System.CommandLine;
using Parley.Cli;

var root = new RootCommand("Parley: a TCP/UDP chat, greeting and echo server, and the console clients to use it.")
{
    ServeCommand.Create(),
    ChatCommand.Create(),
    ConnectCommand.Create(),
    ListenCommand.Create(),
    Parley.Cli.Bench.BenchCommand.Create(),
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // One line saying what is wrong, and where to read more; never a page of help for a typo.
    return Cli.Fail(ParseErrors.Describe(parsed), ExitCodes.Usage);
}

// Each command owns its signals: serve shuts down gracefully, chat says goodbye to the room.
return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
