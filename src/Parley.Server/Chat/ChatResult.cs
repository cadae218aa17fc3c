namespace Parley.Server.Chat;

/// <summary>Why a chat command could not be done; each front end words it in its own protocol.</summary>
public enum ChatError
{
    None,

    /// <summary>The name breaks the naming rules; <see cref="ChatResult.Detail"/> says how.</summary>
    InvalidName,

    /// <summary>Someone else holds the name (<see cref="ChatResult.Subject"/>).</summary>
    NameTaken,

    /// <summary>The room name breaks the naming rules; <see cref="ChatResult.Detail"/> says how.</summary>
    InvalidRoom,

    AlreadyInRoom,

    NotInRoom,

    NoSuchUser,

    /// <summary>Only operators may do that; <see cref="ChatResult.Subject"/> is the command.</summary>
    NotOperator,

    WrongOperatorPassword,

    /// <summary>Not an IP address; for <c>/ban</c>.</summary>
    InvalidAddress,

    /// <summary>The command needs arguments it did not get; <see cref="ChatResult.Subject"/> is the command.</summary>
    MissingArgument,

    /// <summary>History paging that is not a number or out of range; <see cref="ChatResult.Detail"/> says which.</summary>
    InvalidHistoryRequest,

    /// <summary>The history store is failing: chat goes on, its past cannot be read or kept.</summary>
    HistoryUnavailable,

    /// <summary>The other nodes cannot be reached: the line did not go out.</summary>
    BusUnavailable,

    /// <summary>The text is too long to relay to everyone (the IRC front end's limit); <see cref="ChatResult.Detail"/> has the limit.</summary>
    TooLong,

    /// <summary>Only the room's channel operators (or server operators) may; <see cref="ChatResult.Subject"/> is the room, <see cref="ChatResult.Detail"/> what was refused.</summary>
    NotChannelOperator,

    /// <summary>The user named (<see cref="ChatResult.Subject"/>) is not in the room (<see cref="ChatResult.Detail"/>).</summary>
    UserNotInRoom,
}

/// <summary>What a chat command came to: <see cref="Ok"/>, or a typed reason with what it concerns.</summary>
public readonly record struct ChatResult(ChatError Error, string Subject = "", string Detail = "")
{
    public static ChatResult Ok => default;

    public bool IsOk => Error == ChatError.None;

    public static ChatResult Fail(ChatError error, string subject = "", string detail = "") => new(error, subject, detail);
}
