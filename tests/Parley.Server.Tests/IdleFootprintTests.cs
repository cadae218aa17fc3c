using Parley.Protocol.Chat;
using Parley.Server.Chat;

namespace Parley.Server.Tests;

/// <summary>What was made lazy to shrink an idle connection still behaves as before.</summary>
public class IdleFootprintTests
{
    [Fact]
    public void ARoomsRecentLinesStayNewestAndInOrderAsTheyGrowPastTheirFirstSlotsAndWrap()
    {
        var room = new ChatRoom("dev", "dev", recentCapacity: 64);
        Assert.Empty(room.Recent(20));

        for (long id = 1; id <= 3; id++)
        {
            room.Remember([Line(id)]);
        }

        Assert.Equal([1L, 2, 3], room.Recent(20).Select(line => line.Id!.Value));

        // Through every growth (4, 8, 16, 32, 64 slots) and then round the ring twice, in batches of uneven sizes.
        long next = 4;
        foreach (int batch in new[] { 1, 2, 5, 7, 13, 29, 40, 50 })
        {
            room.Remember([.. Enumerable.Range(0, batch).Select(_ => Line(next++))]);
            long newest = next - 1;
            int kept = (int)Math.Min(newest, 64);
            Assert.Equal(kept, room.RecentCount);
            Assert.Equal(LongRange(newest - kept + 1, kept), room.Recent(64).Select(line => line.Id!.Value));
            int asked = (int)Math.Min(newest, 20);
            Assert.Equal(LongRange(newest - asked + 1, asked), room.Recent(20).Select(line => line.Id!.Value));
        }
    }

    private static ChatEvent Line(long id) => new(ChatEventType.Message, DateTimeOffset.UnixEpoch) { Room = "dev", Text = $"line {id}", Id = id };

    private static IEnumerable<long> LongRange(long start, int count) => Enumerable.Range(0, count).Select(i => start + i);
}
