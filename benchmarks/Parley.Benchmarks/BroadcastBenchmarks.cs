using System.Buffers;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Server.Bus;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Names;

namespace Parley.Benchmarks;

/// <summary>
/// One chat line relayed to a room of N members through the real hub and its in-process bus, then every member's
/// queue written out as its writer loop would. The relay formats once and shares the bytes, so allocation per
/// message must not grow with N; the baseline formats per recipient, which is what the design avoids.
/// </summary>
[MemoryDiagnoser]
public class BroadcastBenchmarks
{
    private static readonly string[] Line = ["hello there, a chat line"];
    private ChatHub _hub = null!;
    private ChatMember _sender = null!;
    private ChatRoom _room = null!;
    private ChatMember[] _members = [];
    private readonly ArrayBufferWriter<byte> _socket = new(1 << 20);

    [Params(10, 100, 1000)]
    public int Members { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new ServerOptions { History = HistoryMode.Off, MaxOutputMemory = long.MaxValue };
        var history = new NoRoomHistory();
        _hub = new ChatHub(options, new InProcessNameRegistry(), new InProcessRoomBus(history), history, new OutputBudget(long.MaxValue), TimeProvider.System, NullLogger<ChatHub>.Instance);
        _members = new ChatMember[Members];
        for (int i = 0; i < Members; i++)
        {
            var member = _hub.ConnectAsync($"127.0.0.1:{10000 + i}", new OutboundQueue(long.MaxValue)).AsTask().GetAwaiter().GetResult();
            _hub.RenameAsync(member, $"member{i}").AsTask().GetAwaiter().GetResult();
            _room = _hub.EnterAsync(member, ChatHub.Lobby).AsTask().GetAwaiter().GetResult().Room!;
            _hub.IntroduceAsync(member).AsTask().GetAwaiter().GetResult();
            _members[i] = member;
        }

        _sender = _members[0];
        WriteEveryQueue();
    }

    [Benchmark(Baseline = true)]
    public long FormatPerRecipient()
    {
        var chatEvent = new ChatEvent(ChatEventType.Message, DateTimeOffset.UtcNow) { Room = "lobby", From = _sender.Name, Text = Line[0] };
        foreach (var member in _members)
        {
            if (member != _sender)
            {
                member.Queue.TryEnqueue(TextFormatter.Instance.Format(chatEvent));
            }
        }

        return WriteEveryQueue();
    }

    [Benchmark]
    public long HubRelay()
    {
        var publishing = _hub.PublishAsync(_sender, _room, ChatEventType.Message, Line);
        if (!publishing.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("the in-process relay completes at once");
        }

        return WriteEveryQueue();
    }

    private long WriteEveryQueue()
    {
        long written = 0;
        foreach (var member in _members)
        {
            _socket.ResetWrittenCount();
            written += member.Queue.WriteQueuedTo(_socket);
        }

        return written;
    }
}
