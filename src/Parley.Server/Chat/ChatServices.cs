using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Server.Bus;
using Parley.Server.Connections;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Line;
using Parley.Server.Logging;
using Parley.Server.Names;

namespace Parley.Server.Chat;

/// <summary>The chat core's services: the hub and the seams it sits on, with their in-process implementations.</summary>
internal static class ChatServices
{
    public static void Add(IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(new OutputBudget(options.MaxOutputMemory));
        services.AddSingleton<HistorySlot>();
        services.AddSingleton<IRoomHistory>(provider => provider.GetRequiredService<HistorySlot>());
        if (options.Cluster is { } cluster)
        {
            // Several nodes, one chat (--redis): the cluster's seams replace the in-process ones; it connects later,
            // in OpenHistoryAsync, once the container can give it a logger.
            services.AddSingleton(cluster.Names);
            services.AddSingleton(cluster.Bus);
        }
        else
        {
            services.AddSingleton<INameRegistry, InProcessNameRegistry>();
            services.AddSingleton<IRoomBus, InProcessRoomBus>();
        }

        services.AddSingleton<ChatHub>();
        services.AddSingleton<RawChatRoom>();
    }

    /// <summary>
    /// Opens the history store the options name, before anything listens: a corrupt, locked or unwritable file stops
    /// the start with one line (<see cref="HistoryUnavailableException"/>). A process with no chat service opens none.
    /// </summary>
    public static async Task OpenHistoryAsync(IServiceProvider services, ServerOptions options, CancellationToken cancellation)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Parley.Server.History");
        bool chat = options.EffectiveServices.Any(s => s.Kind is ServiceKind.Chat or ServiceKind.Web);
        IRoomHistory store;
        if (options.Cluster is { } cluster)
        {
            // History lives beside the bus (Redis Streams), so replay and resume work on any node. The hub subscribes
            // to the bus when it is made; it must be there before the bus starts hearing the other nodes.
            services.GetRequiredService<ChatHub>();
            await cluster.ConnectAsync(services.GetRequiredService<ILoggerFactory>(), cancellation);
            store = cluster.History;
        }
        else if (!chat || options.History == HistoryMode.Off)
        {
            store = new NoRoomHistory();
        }
        else if (options.History == HistoryMode.Memory)
        {
            store = new MemoryRoomHistory(options.HistoryKeep);
        }
        else
        {
            string path = options.HistoryPath ?? HistoryLocation.Default(options.ConfigFile);
            var sqlite = await SqliteRoomHistory.OpenAsync(path, options.HistoryKeep, options.HistoryDays, logger, cancellation: cancellation);
            store = sqlite;
        }

        services.GetRequiredService<HistorySlot>().Store = store;
    }

    /// <summary>Says where history is kept and how much it holds; once the server listens, so a failed start stays one line.</summary>
    public static async Task LogHistoryAsync(IServiceProvider services, CancellationToken cancellation)
    {
        if (services.GetRequiredService<HistorySlot>().Store is SqliteRoomHistory sqlite)
        {
            var stats = await sqlite.StatsAsync(cancellation);
            ChatLog.HistoryOpened(services.GetRequiredService<ILoggerFactory>().CreateLogger("Parley.Server.History"), sqlite.Path, stats.Rooms, stats.Lines);
        }
    }

    // The store is opened asynchronously once the container is built (it needs the logger factory), but Kestrel makes
    // the connection handlers, and so the hub, while the host is built: they get this stand-in, which passes every
    // call to the store once it is open. The container disposes it, and it the store (flushing queued lines).
    internal sealed class HistorySlot : IRoomHistory
    {
        private IRoomHistory? _store;

        public event Action<HistoryLoss>? LinesNotKept;

        public IRoomHistory? Store
        {
            get => _store;
            set
            {
                _store = value;
                if (value is not null)
                {
                    // The hub subscribes to this slot before the store is open: pass the store's reports on.
                    value.LinesNotKept += loss => LinesNotKept?.Invoke(loss);
                }
            }
        }

        private IRoomHistory Open => _store ?? throw new InvalidOperationException("the history store is opened before the chat starts");

        public bool IsAvailable => Open.IsAvailable;

        public ValueTask<long> LastIdAsync(string roomKey, CancellationToken cancellation = default) => Open.LastIdAsync(roomKey, cancellation);

        public void Append(string roomKey, Protocol.Chat.ChatEvent line) => Open.Append(roomKey, line);

        public ValueTask<IReadOnlyList<Protocol.Chat.ChatEvent>> ReadAsync(string roomKey, HistoryQuery query, CancellationToken cancellation = default) =>
            Open.ReadAsync(roomKey, query, cancellation);

        public ValueTask<Protocol.Chat.ChatEvent?> TopicAsync(string roomKey, CancellationToken cancellation = default) => Open.TopicAsync(roomKey, cancellation);

        public ValueTask DisposeAsync() => _store?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
