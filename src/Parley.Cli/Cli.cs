using System.Runtime.InteropServices;
using Parley.Client;
using Parley.Server.Hosting;

namespace Parley.Cli;

/// <summary>The exit codes of every command.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Something went wrong at run time: the connection was lost.</summary>
    public const int Failure = 1;

    /// <summary>The user asked for something that cannot be done: bad arguments, nothing listening, port taken.</summary>
    public const int Usage = 2;
}

/// <summary>A mistake on the command line found after parsing (a bad address, an invalid name).</summary>
internal sealed class UsageException(string message) : Exception(message);

internal static class Cli
{
    public static int Fail(string message, int exitCode)
    {
        Console.Error.WriteLine($"parley: {message}");
        return exitCode;
    }

    /// <summary>
    /// Runs a command body and maps what users can cause to one line and an exit code. Anything else is our bug:
    /// it still gets one line, with the type, so a report can be made, but no stack trace.
    /// </summary>
    public static async Task<int> RunAsync(Func<CancellationToken, Task<int>> body, CancellationToken cancellation)
    {
        try
        {
            return await body(cancellation);
        }
        catch (UsageException ex)
        {
            return Fail(ex.Message, ExitCodes.Usage);
        }
        catch (ConnectException ex)
        {
            return Fail(ex.Message, ExitCodes.Usage);
        }
        catch (ServerStartException ex)
        {
            return Fail(ex.Message, ExitCodes.Usage);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
        catch (Exception ex)
        {
            return Fail($"unexpected error: {ex.GetType().Name}: {ex.Message}", ExitCodes.Failure);
        }
    }

    public static HostPort ParseTarget(string text, string? defaultHost = null) =>
        HostPort.TryParse(text, out var target, out string error, defaultHost) ? target : throw new UsageException(error);

    /// <summary>Cancels the returned source on SIGINT or SIGTERM, instead of letting the runtime kill the process.</summary>
    public static SignalScope OnTerminationSignals(Action onSignal) => new(onSignal);

    internal sealed class SignalScope : IDisposable
    {
        private readonly PosixSignalRegistration _interrupt;
        private readonly PosixSignalRegistration _terminate;

        public SignalScope(Action onSignal)
        {
            _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; onSignal(); });
            _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; onSignal(); });
        }

        public void Dispose()
        {
            _interrupt.Dispose();
            _terminate.Dispose();
        }
    }
}
