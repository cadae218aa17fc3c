using System.Text;
using Parley.Server.Connections;

namespace Parley.Server.Chat;

// The raw-framing room: the tutorials' chat server, made safe. It has no names and no commands; chunks go to
// everyone else as they came, less control bytes, and arrivals and departures use the tutorials' words.
internal sealed partial class ChatHub
{
    public ChatMember ConnectRaw(string remote, OutboundQueue queue)
    {
        var member = new ChatMember(remote, remote, queue);
        lock (_gate)
        {
            _rawRoom.Add(member);
            member.Room = _rawRoom;
            member.IsAnnounced = true;
            if (_shuttingDown)
            {
                member.End("server shutting down", ShutdownNotice());
                return member;
            }

            RelayRaw(member, Encoding.UTF8.GetBytes($"[{remote}] is online…\n"));
        }

        return member;
    }

    public void RelayRaw(ChatMember member, byte[] chunk)
    {
        if (chunk.Length == 0)
        {
            return;
        }

        lock (_rawRoom.BroadcastGate)
        {
            SendToRoom(_rawRoom, OutboundMessage.Raw(chunk), except: member);
        }
    }

    public void DisconnectRaw(ChatMember member)
    {
        lock (_gate)
        {
            _rawRoom.Remove(member);
            member.Room = null;
            if (!_shuttingDown)
            {
                RelayRaw(member, Encoding.UTF8.GetBytes($"[{member.Remote}] is down!\n"));
            }
        }
    }
}
