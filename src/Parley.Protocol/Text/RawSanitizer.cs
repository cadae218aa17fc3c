namespace Parley.Protocol.Text;

/// <summary>
/// The raw chat room passes chunks on as they came (the tutorials' clients send no newline and may split
/// characters across reads), so it cleans bytes, not text: control bytes other than TAB, CR and LF go.
/// ESC is a control byte, so no escape sequence can start.
/// </summary>
public static class RawSanitizer
{
    public static byte[] Sanitize(ReadOnlySpan<byte> chunk)
    {
        int keep = 0;
        foreach (byte b in chunk)
        {
            if (IsKept(b))
            {
                keep++;
            }
        }

        var result = new byte[keep];
        int j = 0;
        foreach (byte b in chunk)
        {
            if (IsKept(b))
            {
                result[j++] = b;
            }
        }

        return result;
    }

    private static bool IsKept(byte b) => b >= 0x20 && b != 0x7f || b is (byte)'\t' or (byte)'\r' or (byte)'\n';
}
