namespace Parley.Server.History;

/// <summary>What a store holds: rooms that have ever kept a line (their ids live on after pruning) and lines kept now.</summary>
public readonly record struct HistoryStats(long Rooms, long Lines);
