using System.Globalization;
using System.Text;

namespace Parley.Cli;

/// <summary>
/// A one-line editor for the interactive chat: lines that arrive are printed above the prompt, and the prompt
/// and the half-typed text are redrawn below them, so an incoming message never breaks the line being typed.
/// </summary>
internal sealed class LineEditor
{
    private const string ClearLine = "\r\u001b[2K";
    private readonly Lock _gate = new();
    private readonly StringBuilder _typed = new();
    private readonly string _prompt;

    public LineEditor(string prompt)
    {
        _prompt = prompt;
    }

    /// <summary>Prints a line above the prompt and redraws what the user was typing.</summary>
    public void WriteAbove(string line)
    {
        lock (_gate)
        {
            Console.Out.Write($"{ClearLine}{line}\n{_prompt}{_typed}");
            Console.Out.Flush();
        }
    }

    /// <summary>Reads keys until Enter (the line), or Ctrl-D on an empty line or Ctrl-C (null: the user is leaving).</summary>
    public string? ReadLine()
    {
        lock (_gate)
        {
            // A line printed since the last Enter has already drawn the prompt: redraw rather than add a second one.
            Redraw();
        }

        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            lock (_gate)
            {
                switch (key.Key)
                {
                    case ConsoleKey.Enter:
                        string line = _typed.ToString();
                        _typed.Clear();
                        Console.Out.Write(ClearLine);
                        return line;
                    case ConsoleKey.Backspace:
                        RemoveLastCharacter();
                        Redraw();
                        continue;
                }

                switch (key.KeyChar)
                {
                    case '\u0003':
                        return null;
                    case '\u0004' when _typed.Length == 0:
                        return null;
                    case '\u0015':
                        // Ctrl-U, as in a shell: forget the whole line.
                        _typed.Clear();
                        Redraw();
                        continue;
                }

                if (key.KeyChar != '\0' && !char.IsControl(key.KeyChar))
                {
                    _typed.Append(key.KeyChar);
                    Console.Out.Write(key.KeyChar);
                    Console.Out.Flush();
                }
            }
        }
    }

    private void Redraw()
    {
        Console.Out.Write($"{ClearLine}{_prompt}{_typed}");
        Console.Out.Flush();
    }

    private void RemoveLastCharacter()
    {
        if (_typed.Length == 0)
        {
            return;
        }

        // Remove a whole character as the user sees it (张, é, an emoji), not half a surrogate pair.
        string text = _typed.ToString();
        int[] starts = StringInfo.ParseCombiningCharacters(text);
        _typed.Length = starts[^1];
    }
}
