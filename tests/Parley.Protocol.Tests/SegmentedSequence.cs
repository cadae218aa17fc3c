using System.Buffers;

namespace Parley.Protocol.Tests;

/// <summary>Builds a ReadOnlySequence from several segments, as a socket delivers bytes in pieces.</summary>
internal sealed class SegmentedSequence : ReadOnlySequenceSegment<byte>
{
    private SegmentedSequence(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Create(params byte[][] parts)
    {
        var first = new SegmentedSequence(parts[0], 0);
        var last = first;
        foreach (var part in parts.Skip(1))
        {
            var next = new SegmentedSequence(part, last.RunningIndex + last.Memory.Length);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
