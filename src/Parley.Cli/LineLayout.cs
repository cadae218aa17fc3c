using System.Globalization;
using System.Text;
using Wcwidth;

namespace Parley.Cli;

/// <summary>
/// Where the prompt and the typed text fall on the terminal: which characters go on which row, and the row and
/// column of the cursor. Rows are broken here, with explicit line ends, rather than left to the terminal's
/// automatic wrap, so the editor always knows how many rows it drew and can clear exactly those.
/// </summary>
internal static class LineLayout
{
    /// <summary>The terminal columns one user-perceived character takes: 2 for 张 or 😀, 1 for é (e and a combining mark).</summary>
    public static int Width(ReadOnlySpan<char> cluster)
    {
        // A zero-width-joiner sequence (👨‍👩‍👧, 🏳️‍🌈) is drawn as one glyph, as wide as its first part, by tmux and the
        // terminals that join them; adding up its parts would put the cursor columns past where it is drawn.
        int joiner = cluster.IndexOf('\u200D');
        if (joiner > 0)
        {
            cluster = cluster[..joiner];
        }

        int width = 0;
        foreach (var rune in cluster.EnumerateRunes())
        {
            // Controls never reach the editor (they are keys, not text); a zero-width joiner or mark adds nothing.
            width += Math.Max(0, UnicodeCalculator.GetWidth(rune));
        }

        // An emoji presentation selector turns a narrow symbol (❤) into a wide emoji (❤️).
        if (width == 1 && cluster.Contains('\uFE0F'))
        {
            width = 2;
        }

        return width;
    }

    /// <summary>The columns a whole string takes, for text without controls (a prompt, say).</summary>
    public static int Width(string text)
    {
        int width = 0;
        for (int at = 0; at < text.Length;)
        {
            int length = StringInfo.GetNextTextElementLength(text, at);
            width += Width(text.AsSpan(at, length));
            at += length;
        }

        return width;
    }

    /// <summary>
    /// Lays out <paramref name="prompt"/> and <paramref name="text"/> on rows of <paramref name="columns"/> cells.
    /// A wide character that does not fit at the end of a row starts the next one, as terminals do. The cursor
    /// (an index into <paramref name="text"/>) always gets a cell: at the very end of a full row it is on the next row.
    /// </summary>
    public static Layout Compute(string prompt, string text, int cursor, int columns)
    {
        columns = Math.Max(columns, 4);
        var rows = new List<string>();
        var row = new StringBuilder();
        int column = 0;
        int cursorRow = 0;
        int cursorColumn = 0;

        void Place(ReadOnlySpan<char> cluster)
        {
            int width = Width(cluster);
            if (column + width > columns)
            {
                rows.Add(row.ToString());
                row.Clear();
                column = 0;
            }

            row.Append(cluster);
            column += width;
        }

        for (int at = 0; at < prompt.Length;)
        {
            int length = StringInfo.GetNextTextElementLength(prompt, at);
            Place(prompt.AsSpan(at, length));
            at += length;
        }

        for (int at = 0; ;)
        {
            if (at == cursor)
            {
                if (column >= columns)
                {
                    rows.Add(row.ToString());
                    row.Clear();
                    column = 0;
                }

                cursorRow = rows.Count;
                cursorColumn = column;
            }

            if (at >= text.Length)
            {
                break;
            }

            int length = StringInfo.GetNextTextElementLength(text, at);
            var cluster = text.AsSpan(at, length);
            int width = Width(cluster);
            // The cursor may sit on this character: if it wraps, the cursor wraps with it.
            if (column + width > columns && at == cursor)
            {
                rows.Add(row.ToString());
                row.Clear();
                column = 0;
                cursorRow = rows.Count;
                cursorColumn = 0;
            }

            Place(cluster);
            at += length;
        }

        rows.Add(row.ToString());
        return new Layout(rows, cursorRow, cursorColumn);
    }

    internal sealed record Layout(IReadOnlyList<string> Rows, int CursorRow, int CursorColumn);
}
