using System.Buffers.Binary;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;

namespace Parley.Server.Web;

/// <summary>
/// The WebSocket's events as whole frames: an unmasked text frame (RFC 6455 §5.2) around each JSON event, without
/// its line feed. A server frame's header depends only on the payload's length, so a message is framed once and the
/// same bytes are queued for every member on a WebSocket, as a line is for every member on TCP; the writer copies
/// queued frames into the connection as they are, instead of framing each event for each member again.
/// </summary>
internal sealed class WebSocketFrameFormatter : ChatFormatter
{
    public static readonly WebSocketFrameFormatter Instance = new();

    private const byte FinalTextFrame = 0x81;

    private WebSocketFrameFormatter()
        : base("websocket")
    {
    }

    public override byte[] Format(ChatEvent chatEvent)
    {
        byte[] json = JsonFormatter.Instance.Format(chatEvent);
        int length = json.Length > 0 && json[^1] == (byte)'\n' ? json.Length - 1 : json.Length;
        return Frame(json.AsSpan(0, length));
    }

    /// <summary>One final, unmasked text frame holding <paramref name="payload"/>.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        int headerLength = payload.Length < 126 ? 2 : payload.Length <= ushort.MaxValue ? 4 : 10;
        byte[] frame = new byte[headerLength + payload.Length];
        frame[0] = FinalTextFrame;
        switch (headerLength)
        {
            case 2:
                frame[1] = (byte)payload.Length;
                break;
            case 4:
                frame[1] = 126;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
                break;
            default:
                frame[1] = 127;
                BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
                break;
        }

        payload.CopyTo(frame.AsSpan(headerLength));
        return frame;
    }
}
