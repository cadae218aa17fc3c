namespace Parley.Client;

/// <summary>A connection could not be made, said in one line: <c>cannot connect to 127.0.0.1:9999: connection refused</c>.</summary>
public sealed class ConnectException(string message, Exception? inner = null) : Exception(message, inner);
