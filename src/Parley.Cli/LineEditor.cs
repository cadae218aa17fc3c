using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Parley.Cli;

/// <summary>
/// The input line of the interactive clients, with the keys of readline and irssi: Left/Right (Ctrl-B/F),
/// Ctrl-Left/Right and Alt-B/F by word, Home/End (Ctrl-A/E), Backspace, Delete (Ctrl-D), Ctrl-W, Ctrl-U, Ctrl-K,
/// Up/Down (Ctrl-P/N) through what was sent, Tab to complete, Ctrl-L to redraw. Lines that arrive are printed
/// above it and it is drawn again below them, on as many rows as it needs, so an incoming message never breaks
/// the line being typed, however long it is.
/// </summary>
/// <remarks>
/// The editor redraws its whole area on every change instead of patching the row the cursor is on: it moves up
/// to the first row it drew, clears to the end of the screen and writes the prompt and text again. That costs a
/// few hundred bytes per key and is what keeps a line that wraps, a wide character or a resize from leaving
/// copies of the text behind (issue 16). Only relative cursor moves are used, so it works wherever the prompt is
/// on the screen and whether or not the terminal scrolled.
/// </remarks>
internal sealed class LineEditor : IDisposable
{
    private const string ClearToEnd = "\u001b[J";
    private const int HistoryLimit = 500;

    private readonly Lock _gate = new();
    private readonly TextWriter _out;
    private readonly List<string> _history = [];
    private readonly Func<string, int, IReadOnlyList<string>>? _complete;
    private readonly PosixSignalRegistration? _resize;
    private string _prompt;
    private string _text = string.Empty;
    private int _cursor;
    // The row of the edit area the terminal's cursor is on now, counted from the area's first row.
    private int _drawnCursorRow;
    private int _drawnCursorColumn;
    private int _drawnColumns;
    private int[] _drawnRowWidths = [];
    private bool _drawn;
    // Between ReadLine's start and Enter: lines printed above are followed by the input line again.
    private bool _reading;
    private char? _pendingHigh;
    private int _historyIndex;
    private string _draft = string.Empty;
    private Completion? _completion;
    private bool _titleSet;

    /// <param name="prompt">Shown before the text.</param>
    /// <param name="complete">Given the text and where the word being completed starts, every word that could go there.</param>
    public LineEditor(string prompt, Func<string, int, IReadOnlyList<string>>? complete = null, TextWriter? output = null)
    {
        _prompt = prompt;
        _complete = complete;
        _out = output ?? Console.Out;
        // Windows has no SIGWINCH; there the next key redraws at the new width.
        if (!OperatingSystem.IsWindows())
        {
            _resize = PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ => Redraw());
        }
    }

    public void Dispose() => _resize?.Dispose();

    /// <summary>Every key the user presses, before it is applied: the user is at the keyboard.</summary>
    public event Action? KeyRead;

    /// <summary>
    /// Sets the terminal's title (the tab, the tmux window list), which stays in view while the user looks at
    /// another window. The first call saves the title the terminal had; <see cref="Close"/> puts it back.
    /// </summary>
    public void SetTitle(string title)
    {
        lock (_gate)
        {
            // xterm's title stack (CSI 22 t / 23 t); terminals without one ignore it.
            string save = _titleSet ? string.Empty : "\u001b[22;0t";
            _titleSet = true;
            string clean = new([.. title.Where(c => !char.IsControl(c))]);
            _out.Write($"{save}\u001b]2;{clean}\u0007");
            _out.Flush();
        }
    }

    /// <summary>Rings the terminal's bell, as irssi does for a private message or a line naming the user.</summary>
    public void Bell()
    {
        lock (_gate)
        {
            _out.Write('\u0007');
            _out.Flush();
        }
    }

    /// <summary>Changes the prompt (the room the user is in, say) and redraws.</summary>
    public void SetPrompt(string prompt)
    {
        lock (_gate)
        {
            _prompt = prompt;
            if (_drawn)
            {
                Draw();
            }
        }
    }

    /// <summary>Text the next <see cref="ReadLine"/> starts with: a line the client refused to send stays editable.</summary>
    public void Preload(string text)
    {
        lock (_gate)
        {
            _text = text;
            _cursor = text.Length;
        }
    }

    /// <summary>Prints a line above the input line and draws the input line again below it.</summary>
    public void WriteAbove(string line)
    {
        lock (_gate)
        {
            var frame = new StringBuilder();
            Erase(frame);
            // The terminal wraps this line itself: it is never redrawn, so its rows need not be counted.
            frame.Append(line).Append("\r\n");
            _drawn = false;
            if (_reading)
            {
                Compose(frame);
            }

            _out.Write(frame.ToString());
            _out.Flush();
        }
    }

    /// <summary>Clears the input line from the screen, for the last words before the program exits.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _reading = false;
            var frame = new StringBuilder();
            Erase(frame);
            _drawn = false;
            if (_titleSet)
            {
                frame.Append("\u001b[23;0t");
                _titleSet = false;
            }

            _out.Write(frame.ToString());
            _out.Flush();
        }
    }

    /// <summary>Reads keys until Enter (the line), or Ctrl-D on an empty line or Ctrl-C (null: the user is leaving).</summary>
    public string? ReadLine()
    {
        lock (_gate)
        {
            _reading = true;
            _historyIndex = _history.Count;
            Draw();
        }

        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            KeyRead?.Invoke();
            lock (_gate)
            {
                var outcome = Apply(key);
                if (outcome == KeyOutcome.Submit)
                {
                    string line = _text;
                    _text = string.Empty;
                    _cursor = 0;
                    _reading = false;
                    var frame = new StringBuilder();
                    Erase(frame);
                    _drawn = false;
                    _out.Write(frame.ToString());
                    _out.Flush();
                    Remember(line);
                    return line;
                }

                if (outcome == KeyOutcome.Leave)
                {
                    _reading = false;
                    return null;
                }

                // A paste arrives as many keys at once: draw once they are all in, not once per key.
                if (outcome == KeyOutcome.Edit && !KeysWaiting())
                {
                    Draw();
                }
            }
        }
    }

    private enum KeyOutcome
    {
        Edit,
        Pending,
        Submit,
        Leave,
    }

    private KeyOutcome Apply(ConsoleKeyInfo key)
    {
        bool control = key.Modifiers.HasFlag(ConsoleModifiers.Control);
        bool alt = key.Modifiers.HasFlag(ConsoleModifiers.Alt);
        if (key.Key != ConsoleKey.Tab)
        {
            _completion = null;
        }

        switch (key.Key)
        {
            case ConsoleKey.Enter:
                return KeyOutcome.Submit;
            case ConsoleKey.Tab:
                Complete();
                return KeyOutcome.Edit;
            case ConsoleKey.Backspace when alt:
                DeleteWordBefore();
                return KeyOutcome.Edit;
            case ConsoleKey.Backspace:
                if (_cursor > 0)
                {
                    int start = PreviousBoundary(_cursor);
                    _text = _text.Remove(start, _cursor - start);
                    _cursor = start;
                }

                return KeyOutcome.Edit;
            case ConsoleKey.Delete:
                DeleteAtCursor();
                return KeyOutcome.Edit;
            case ConsoleKey.LeftArrow:
                _cursor = control ? WordStartBefore(_cursor) : PreviousBoundary(_cursor);
                return KeyOutcome.Edit;
            case ConsoleKey.RightArrow:
                _cursor = control ? WordEndAfter(_cursor) : NextBoundary(_cursor);
                return KeyOutcome.Edit;
            case ConsoleKey.Home:
                _cursor = 0;
                return KeyOutcome.Edit;
            case ConsoleKey.End:
                _cursor = _text.Length;
                return KeyOutcome.Edit;
            case ConsoleKey.UpArrow:
                Recall(-1);
                return KeyOutcome.Edit;
            case ConsoleKey.DownArrow:
                Recall(+1);
                return KeyOutcome.Edit;
        }

        if (alt)
        {
            switch (char.ToLowerInvariant(key.KeyChar))
            {
                case 'b':
                    _cursor = WordStartBefore(_cursor);
                    break;
                case 'f':
                    _cursor = WordEndAfter(_cursor);
                    break;
                case 'd':
                    int end = WordEndAfter(_cursor);
                    _text = _text.Remove(_cursor, end - _cursor);
                    break;
            }

            return KeyOutcome.Edit;
        }

        switch (key.KeyChar)
        {
            case '\u0001': // Ctrl-A
                _cursor = 0;
                return KeyOutcome.Edit;
            case '\u0005': // Ctrl-E
                _cursor = _text.Length;
                return KeyOutcome.Edit;
            case '\u0002': // Ctrl-B
                _cursor = PreviousBoundary(_cursor);
                return KeyOutcome.Edit;
            case '\u0006': // Ctrl-F
                _cursor = NextBoundary(_cursor);
                return KeyOutcome.Edit;
            case '\u0003': // Ctrl-C
                return KeyOutcome.Leave;
            case '\u0004': // Ctrl-D: leave on an empty line, as a shell does; otherwise delete
                if (_text.Length == 0)
                {
                    return KeyOutcome.Leave;
                }

                DeleteAtCursor();
                return KeyOutcome.Edit;
            case '\u0017': // Ctrl-W
                DeleteWordBefore();
                return KeyOutcome.Edit;
            case '\u0015': // Ctrl-U: everything before the cursor
                _text = _text[_cursor..];
                _cursor = 0;
                return KeyOutcome.Edit;
            case '\u000b': // Ctrl-K: everything from the cursor on
                _text = _text[.._cursor];
                return KeyOutcome.Edit;
            case '\u0010': // Ctrl-P
                Recall(-1);
                return KeyOutcome.Edit;
            case '\u000e': // Ctrl-N
                Recall(+1);
                return KeyOutcome.Edit;
            case '\u000c': // Ctrl-L: the edit area is redrawn below anyway
                return KeyOutcome.Edit;
        }

        char c = key.KeyChar;
        if (c == '\0' || char.IsControl(c))
        {
            return KeyOutcome.Edit;
        }

        // An emoji comes as two keys (a surrogate pair): the first half waits for the second, so half a character
        // never reaches the text or the screen (it showed as "����" before issue 16).
        if (char.IsHighSurrogate(c))
        {
            _pendingHigh = c;
            return KeyOutcome.Pending;
        }

        string typed = char.IsLowSurrogate(c) && _pendingHigh is { } high ? $"{high}{c}" : c.ToString();
        _pendingHigh = null;
        if (char.IsSurrogate(typed[0]) && typed.Length == 1)
        {
            return KeyOutcome.Edit;
        }

        _text = _text.Insert(_cursor, typed);
        _cursor += typed.Length;

        // A combining mark joins the character before it: keep the cursor after the whole character.
        if (_cursor < _text.Length && !IsBoundary(_cursor))
        {
            _cursor = NextBoundary(_cursor);
        }

        return KeyOutcome.Edit;
    }

    private void DeleteAtCursor()
    {
        if (_cursor < _text.Length)
        {
            int end = NextBoundary(_cursor);
            _text = _text.Remove(_cursor, end - _cursor);
        }
    }

    private void DeleteWordBefore()
    {
        int start = WordStartBefore(_cursor);
        _text = _text.Remove(start, _cursor - start);
        _cursor = start;
    }

    private void Recall(int step)
    {
        int index = _historyIndex + step;
        if (index < 0 || index > _history.Count)
        {
            return;
        }

        if (_historyIndex == _history.Count)
        {
            _draft = _text;
        }

        _historyIndex = index;
        _text = index == _history.Count ? _draft : _history[index];
        _cursor = _text.Length;
    }

    private void Remember(string line)
    {
        if (line.Length > 0 && (_history.Count == 0 || _history[^1] != line))
        {
            _history.Add(line);
            if (_history.Count > HistoryLimit)
            {
                _history.RemoveAt(0);
            }
        }

        _draft = string.Empty;
    }

    // Tab completes the word before the cursor; Tab again offers the next candidate, as irssi does. A name at the
    // start of the line gets ": " after it, the way people address each other in a room.
    private void Complete()
    {
        if (_complete is null)
        {
            return;
        }

        if (_completion is { } previous)
        {
            int next = (previous.Index + 1) % previous.Candidates.Count;
            Insert(previous with { Index = next });
            return;
        }

        int start = _cursor;
        while (start > 0 && _text[start - 1] != ' ')
        {
            start--;
        }

        string prefix = _text[start.._cursor];
        var candidates = _complete(_text, start)
            .Where(c => c.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.OrdinalIgnoreCase)
            .ToList();
        if (candidates.Count == 0)
        {
            return;
        }

        Insert(new Completion(start, _cursor, candidates, 0));
    }

    private void Insert(Completion completion)
    {
        string word = completion.Candidates[completion.Index];
        string suffix = completion.Start == 0 && !word.StartsWith('/') && !word.StartsWith('#') ? ": " : " ";
        string inserted = word + suffix;
        _text = _text[..completion.Start] + inserted + _text[completion.End..];
        _cursor = completion.Start + inserted.Length;
        _completion = completion with { End = _cursor };
    }

    private bool IsBoundary(int index)
    {
        if (index <= 0 || index >= _text.Length)
        {
            return true;
        }

        for (int at = 0; at < _text.Length;)
        {
            if (at == index)
            {
                return true;
            }

            if (at > index)
            {
                return false;
            }

            at += StringInfo.GetNextTextElementLength(_text, at);
        }

        return false;
    }

    private int NextBoundary(int index)
    {
        for (int at = 0; at < _text.Length;)
        {
            int next = at + StringInfo.GetNextTextElementLength(_text, at);
            if (next > index)
            {
                return next;
            }

            at = next;
        }

        return _text.Length;
    }

    private int PreviousBoundary(int index)
    {
        int previous = 0;
        for (int at = 0; at < _text.Length && at < index;)
        {
            previous = at;
            at += StringInfo.GetNextTextElementLength(_text, at);
        }

        return previous;
    }

    private int WordStartBefore(int index)
    {
        int at = index;
        while (at > 0 && _text[at - 1] == ' ')
        {
            at--;
        }

        while (at > 0 && _text[at - 1] != ' ')
        {
            at--;
        }

        return at;
    }

    private int WordEndAfter(int index)
    {
        int at = index;
        while (at < _text.Length && _text[at] == ' ')
        {
            at++;
        }

        while (at < _text.Length && _text[at] != ' ')
        {
            at++;
        }

        return at;
    }

    private void Redraw()
    {
        lock (_gate)
        {
            if (_drawn)
            {
                Draw();
            }
        }
    }

    private void Draw()
    {
        var frame = new StringBuilder();
        Erase(frame);
        Compose(frame);
        _out.Write(frame.ToString());
        _out.Flush();
    }

    // Moves to the first row of the edit area and clears everything from there down.
    private void Erase(StringBuilder frame)
    {
        int up = _drawn ? RowsAboveCursor(Columns()) : 0;
        if (up > 0)
        {
            frame.Append("\u001b[").Append(up).Append('A');
        }

        frame.Append('\r').Append(ClearToEnd);
        _drawnCursorRow = 0;
    }

    // After the terminal narrowed, it has re-flowed each drawn row longer than the new width onto several rows
    // (tmux, VTE, kitty and iTerm2 do), with the cursor on its cell: count the rows above it as they are now.
    private int RowsAboveCursor(int columns)
    {
        if (columns >= _drawnColumns)
        {
            return _drawnCursorRow;
        }

        int rows = 0;
        for (int i = 0; i < _drawnCursorRow; i++)
        {
            rows += Math.Max(1, (_drawnRowWidths[i] + columns - 1) / columns);
        }

        return rows + (_drawnCursorColumn / columns);
    }

    private void Compose(StringBuilder frame)
    {
        var (columns, height) = Size();
        var layout = LineLayout.Compute(_prompt, _text, _cursor, columns);
        // A line taller than the screen (4 KiB is 52 rows at 80 columns) cannot be cleared from above once its
        // first rows have scrolled off: only the rows around the cursor are drawn, one short of the screen's
        // height so that the line above stays in view, as irssi scrolls its input line sideways.
        int visible = Math.Max(1, height - 1);
        int first = Math.Clamp(layout.CursorRow - visible + 1, 0, Math.Max(0, layout.Rows.Count - visible));
        var rows = layout.Rows.Skip(first).Take(visible).ToList();
        layout = layout with { Rows = rows, CursorRow = layout.CursorRow - first };
        for (int i = 0; i < layout.Rows.Count; i++)
        {
            if (i > 0)
            {
                frame.Append("\r\n");
            }

            frame.Append(layout.Rows[i]);
        }

        int up = layout.Rows.Count - 1 - layout.CursorRow;
        if (up > 0)
        {
            frame.Append("\u001b[").Append(up).Append('A');
        }

        frame.Append('\r');
        if (layout.CursorColumn > 0)
        {
            frame.Append("\u001b[").Append(layout.CursorColumn).Append('C');
        }

        _drawnCursorRow = layout.CursorRow;
        _drawnCursorColumn = layout.CursorColumn;
        _drawnColumns = columns;
        _drawnRowWidths = [.. layout.Rows.Select(LineLayout.Width)];
        _drawn = true;
    }

    private static bool KeysWaiting()
    {
        try
        {
            return Console.KeyAvailable;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static int Columns() => Size().Columns;

    private static (int Columns, int Rows) Size()
    {
        try
        {
            int width = Console.WindowWidth;
            int height = Console.WindowHeight;
            return (width > 0 ? width : 80, height > 0 ? height : 24);
        }
        catch (IOException)
        {
            return (80, 24);
        }
    }

    private sealed record Completion(int Start, int End, IReadOnlyList<string> Candidates, int Index);
}
