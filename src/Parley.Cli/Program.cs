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
    string command = parsed.CommandResult.Command == root ? "parley" : $"parley {parsed.CommandResult.Command.Name}";
    string message = string.Join(' ', parsed.Errors[0].Message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(part => part.Trim()));
    return Cli.Fail($"{message} (see '{command} --help')", ExitCodes.Usage);
}

// Each command owns its signals: serve shuts down gracefully, chat says goodbye to the room.
return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
