using Parley.Protocol.Chat;
using Parley.Server.Bus;
using Parley.Server.History;
using Parley.Server.Logging;

namespace Parley.Server.Chat;

// What the bus hands this node, delivered to the members here. Called under the bus's order for the room; each
// delivery only queues, so no I/O happens on the publisher's thread.
internal sealed partial class ChatHub
{
    // A loss of history this long after the last one is a new episode, and the room is told again.
    private static readonly TimeSpan HistoryLossEpisodeGap = TimeSpan.FromSeconds(30);

    public void OnRoomLines(string roomKey, IReadOnlyList<ChatEvent> lines, MemberRef origin)
    {
        if (!_rooms.TryGetValue(roomKey, out var room))
        {
            return;
        }

        OutboundMessage message;
        if (lines.Count == 1)
        {
            message = new OutboundMessage(lines[0]);
        }
        else
        {
            // A burst from one read: each recipient gets it as one queue entry, in order and under consecutive ids.
            var parts = new OutboundMessage[lines.Count];
            for (int i = 0; i < parts.Length; i++)
            {
                parts[i] = new OutboundMessage(lines[i]);
            }

            message = OutboundMessage.Together(parts);
        }

        lock (room.DeliveryGate)
        {
            room.Remember(lines);
            if (lines[^1].Type == ChatEventType.Topic)
            {
                room.Topic = lines[^1];
            }

            Deliver(room, message, except: origin, echo: true);
        }

        EnforceBudget();
    }

    public void OnPresence(string roomKey, PresenceChange change)
    {
        var room = change.Kind == PresenceKind.Left ? _rooms.GetValueOrDefault(roomKey) : RoomFor(roomKey, change.RoomName);
        if (room is null)
        {
            return;
        }

        lock (room.DeliveryGate)
        {
            room.ApplyToRoster(change);
            if (change.Notice is { } notice)
            {
                // Past the presence limit nobody hears of arrivals, departures and renames but the member itself:
                // telling N members of N arrivals costs N² lines.
                // A departure is judged by the room's size with the member still in it, as its arrival was.
                int size = room.RosterCount + (change.Kind == PresenceKind.Left ? 1 : 0);
                // A member whose front end words its own entry (IRC) is not told of it twice.
                var self = change.Member.Node == NodeId ? _local.GetValueOrDefault(change.Member.Id) : null;
                bool toldAlready = change.Kind == PresenceKind.Entered && self is { WordsOwnEntry: true };
                // A kicked member here leaves the room's delivery before anyone hears of it, then is told itself.
                var kicked = notice.Type == ChatEventType.Kick ? PutOut(room, change) : null;
                if (size <= _options.PresenceLimit)
                {
                    Deliver(room, new OutboundMessage(notice), except: toldAlready ? change.Member : default, renamed: change.Kind == PresenceKind.Renamed);
                }
                else if (self is not null && !toldAlready && change.Kind != PresenceKind.Left
                    && (change.Kind != PresenceKind.Renamed || !self.HearsRenameOnce || self.IsFirstToHear(notice)))
                {
                    self.Send(new OutboundMessage(notice));
                }

                kicked?.Send(new OutboundMessage(notice));
            }
        }

        if (change.Kind == PresenceKind.Left)
        {
            ForgetIfDeserted(room);
        }
    }

    public bool OnPrivate(MemberRef to, ChatEvent line)
    {
        if (to.Node != NodeId || !_local.TryGetValue(to.Id, out var member))
        {
            return false;
        }

        // A TAGMSG reaches only a reader that can show its tags; to anyone else it is nothing, not an error.
        if (!line.IsTagsOnly || member.Format.TakesClientTags)
        {
            member.Send(new OutboundMessage(line));
        }

        return true;
    }

    public void OnCutOff(MemberRef member, string reason, string message)
    {
        if (member.Node == NodeId && _local.TryGetValue(member.Id, out var target))
        {
            target.CutOff(reason, message);
        }
    }

    public IReadOnlyList<PresenceChange> LocalPresence()
    {
        var changes = new List<PresenceChange>();
        foreach (var member in _local.Values)
        {
            if (!member.HoldsName || member.IsCutOff)
            {
                continue;
            }

            foreach (var room in member.Rooms)
            {
                var notice = member.IsAnnounced ? new ChatEvent(ChatEventType.Join, Now) { Room = room.Name, From = member.Name } : null;
                changes.Add(new PresenceChange(PresenceKind.Entered, room.Name, member.Id, member.Name, notice));
            }
        }

        return changes;
    }

    public async ValueTask OnNameLostAsync(MemberRef id, string name)
    {
        if (id.Node != NodeId || !_local.TryGetValue(id.Id, out var member) || ChatNames.Key(member.Name) != ChatNames.Key(name))
        {
            return;
        }

        string guest;
        do
        {
            guest = $"guest-{await _names.NextGuestNumberAsync()}";
        }
        while (!await _names.TryClaimAsync(guest, id));

        member.Send(new OutboundMessage(new ChatEvent(ChatEventType.Notice, Now)
        {
            Text = $"someone else took the name {name} while this server could not reach the others; you are {guest} now",
            Code = "name_lost",
        }));
        await TakeNameAsync(member, member.Name, guest);
    }

    /// <summary>
    /// History could not keep lines of a room: its members here are told, once per episode (losses less than
    /// <see cref="HistoryLossEpisodeGap"/> apart are one episode), so a gap in history never comes without a word.
    /// </summary>
    private void OnHistoryLoss(HistoryLoss loss)
    {
        if (!_rooms.TryGetValue(loss.RoomKey, out var room))
        {
            return; // nobody here: nobody to tell
        }

        bool writeFailed = loss.Reason == HistoryLossReason.WriteFailed;
        lock (room.DeliveryGate)
        {
            long now = _time.GetTimestamp();
            bool sameEpisode = room.LastHistoryLoss is long last && _time.GetElapsedTime(last, now) < HistoryLossEpisodeGap;
            room.LastHistoryLoss = now;
            if (sameEpisode)
            {
                return;
            }

            string text = writeFailed
                ? $"the history of #{room.Name} is unavailable right now: lines said here are not being kept (chat goes on)"
                : $"some lines of #{room.Name} were not kept in its history: the server's disk could not keep up (chat goes on)";
            Deliver(room, new OutboundMessage(new ChatEvent(ChatEventType.Notice, Now) { Room = room.Name, Text = text, Code = "history_unavailable" }), except: default);
        }

        ParleyMetrics.HistoryLossNotices.Add(1, new KeyValuePair<string, object?>("reason", writeFailed ? "write_error" : "queue_full"));
        ChatLog.HistoryLossTold(_logger, room.Name, writeFailed ? "write_error" : "queue_full");
        EnforceBudget();
    }

    // Callers hold the room's delivery gate, so every member sees the room's lines in one order.
    private void Deliver(ChatRoom room, OutboundMessage message, MemberRef except, bool echo = false, bool renamed = false)
    {
        long queued = 0;
        bool tagsOnly = message.Event is { IsTagsOnly: true };
        foreach (var recipient in room.LocalMembers)
        {
            // An IRC client that asked for echo-message gets its own lines back, with their ids, in the room's order.
            if ((recipient.Id != except || (echo && recipient.EchoesOwnLines))
                && (!renamed || !recipient.HearsRenameOnce || recipient.IsFirstToHear(message.Event!))
                && (!tagsOnly || recipient.Format.TakesClientTags))
            {
                queued += recipient.Deliver(message, out bool behind);
                if (behind)
                {
                    room.MarkBehind(recipient);
                }
            }
        }

        _budget.Reserve(queued);
    }

    // Past the server's output budget, the members with the largest backlogs go first (Redis's maxmemory-clients):
    // one member that stopped reading costs more than a thousand that keep up. One thread evicts at a time.
    private void EnforceBudget()
    {
        if (!_budget.IsExceeded || !_evictionGate.TryEnter())
        {
            return;
        }

        try
        {
            while (_budget.IsExceeded)
            {
                var largest = _local.Values.Where(m => !m.IsCutOff).MaxBy(m => m.Queue.PendingBytes);
                if (largest is null || largest.Queue.PendingBytes == 0)
                {
                    return;
                }

                ParleyMetrics.CutOffs.Add(1, new KeyValuePair<string, object?>("reason", "output_budget"));
                ChatLog.OutputBudgetEviction(_logger, largest.Name, largest.Remote, largest.Queue.PendingBytes, _budget.MaxBytes);
                largest.Queue.DiscardQueued();
                largest.CutOff("too slow", "disconnected: too slow (the server's output memory is full)");
            }
        }
        finally
        {
            _evictionGate.Exit();
        }
    }
}
