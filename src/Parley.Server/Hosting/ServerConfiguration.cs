using System.Text.Json;

namespace Parley.Server.Hosting;

/// <summary>
/// Builds the options of <c>parley serve</c> from its three sources: flags win over <c>PARLEY_*</c> variables, and
/// variables over the JSON settings file (<c>--config FILE</c>); what none of them gives keeps the default written in
/// <see cref="ServerOptions"/>. Every mistake is a <see cref="SettingsException"/> naming the flag, variable or key at
/// fault, as the user wrote it. docs/configuration.md documents the result.
/// </summary>
/// <remarks>
/// The file is read with <see cref="JsonDocument"/> and every value goes through the same parser as a flag, so a key
/// means exactly what its flag means, and nothing here needs reflection (Native AOT and trimming stay clean).
/// </remarks>
public static class ServerConfiguration
{
    /// <summary>The flag naming the settings file; not a key of the file itself.</summary>
    public const string ConfigName = "config";

    public static string ConfigVariable => "PARLEY_" + ConfigName.ToUpperInvariant();

    private const string ListenersKey = "listeners";

    private static readonly JsonDocumentOptions FileOptions = new()
    {
        // A settings file is edited by hand: comments explain choices, and a trailing comma is no reason to refuse it.
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <param name="flags">The flags given, by name without dashes (<c>max-line</c>), with their texts; absent ones are not in it.</param>
    /// <param name="environment">Reads an environment variable (a parameter so tests need not change the process's).</param>
    public static ServerOptions Load(IReadOnlyDictionary<string, IReadOnlyList<string>> flags, Func<string, string?> environment)
    {
        var fromFlags = new Dictionary<ServerSetting, SettingValue>();
        foreach (var (name, texts) in flags)
        {
            if (name != ConfigName)
            {
                fromFlags[ServerSetting.Named(name)] = new SettingValue(texts, "--" + name);
            }
        }

        var fromEnvironment = ReadEnvironment(environment);
        string? configFile = flags.TryGetValue(ConfigName, out var configFlag) ? configFlag[^1] : NonEmpty(environment(ConfigVariable));
        var file = configFile is null ? SettingsFile.Empty : SettingsFile.Read(configFile);

        var chosen = new Dictionary<ServerSetting, SettingValue>();
        foreach (var setting in ServerSetting.All)
        {
            if (fromFlags.TryGetValue(setting, out var value) || fromEnvironment.TryGetValue(setting, out value) || file.Values.TryGetValue(setting, out value))
            {
                chosen[setting] = value;
            }
        }

        var options = new ServerOptions { ConfigFile = configFile is null ? null : Path.GetFullPath(configFile) };
        foreach (var (setting, value) in chosen)
        {
            setting.Apply(options, value);
        }

        options.TlsCertificate = LoadCertificate(chosen);
        string Describe(string name) => chosen.TryGetValue(ServerSetting.Named(name), out var value) ? value.Label : "--" + name;
        if (options.Validate(Describe) is { } problem)
        {
            throw new SettingsException(problem);
        }

        // A service given by a flag or a variable replaces what the file says for that service, listeners included,
        // as any other flag replaces its key; services the command line does not name still come from the file.
        foreach (var setting in ServerSetting.All.Where(setting => setting.Shape == SettingShape.Port))
        {
            var kind = setting.Service!.Value;
            if (fromFlags.TryGetValue(setting, out var port) || fromEnvironment.TryGetValue(setting, out port))
            {
                options.Services.Add(new ServiceBinding(kind, port.Port()));
                continue;
            }

            if (file.Values.TryGetValue(setting, out port))
            {
                options.Services.Add(new ServiceBinding(kind, port.Port()));
            }

            foreach (var listener in file.Listeners.Where(listener => listener.Kind == kind))
            {
                options.Services.Add(new ServiceBinding(kind, listener.Port, ListenerOptions(options, listener, Describe, Given(chosen, "tls-password"))));
            }
        }

        return options.Validate(Describe) is { } servicesProblem ? throw new SettingsException(servicesProblem) : options;
    }

    /// <summary>The process-wide options with one listener's own keys on top; a listener's key wins even over a flag.</summary>
    private static ServerOptions ListenerOptions(ServerOptions processWide, ListenerEntry listener, Func<string, string> describeProcessWide, SettingValue? processWidePassword)
    {
        var options = processWide.CopyForListener();
        foreach (var (setting, value) in listener.Values)
        {
            setting.Apply(options, value);
        }

        if (listener.PlainTcp)
        {
            options.TlsCertificate = null;
        }
        else if (listener.Values.Keys.Any(IsTls))
        {
            // The password may stay process-wide (PARLEY_TLS_PASSWORD keeps it out of the file); the files may not mix.
            options.TlsCertificate = ServerCertificate.Load(
                Given(listener.Values, "tls-cert") ?? throw new SettingsException($"{listener.Label}: a listener's TLS settings need its own tlsCert"),
                Given(listener.Values, "tls-key"),
                Given(listener.Values, "tls-password") ?? processWidePassword);
        }

        string Describe(string name) => listener.Values.TryGetValue(ServerSetting.Named(name), out var value) ? value.Label : describeProcessWide(name);
        return options.ValidateLimits(Describe) is { } problem ? throw new SettingsException(problem) : options;
    }

    private static bool IsTls(ServerSetting setting) => setting.Name.StartsWith("tls-", StringComparison.Ordinal);

    private static System.Security.Cryptography.X509Certificates.X509Certificate2? LoadCertificate(Dictionary<ServerSetting, SettingValue> chosen) =>
        ServerCertificate.Load(Given(chosen, "tls-cert"), Given(chosen, "tls-key"), Given(chosen, "tls-password"));

    private static SettingValue? Given(Dictionary<ServerSetting, SettingValue> values, string name) =>
        values.TryGetValue(ServerSetting.Named(name), out var value) ? value : null;

    private static Dictionary<ServerSetting, SettingValue> ReadEnvironment(Func<string, string?> environment)
    {
        var values = new Dictionary<ServerSetting, SettingValue>();
        foreach (var setting in ServerSetting.All)
        {
            // Empty counts as unset, as shells make it easy to set a variable to nothing by accident.
            if (NonEmpty(environment(setting.Variable)) is not { } text)
            {
                continue;
            }

            IReadOnlyList<string> texts = setting.Shape == SettingShape.List
                ? text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : [text];
            values[setting] = new SettingValue(texts, setting.Variable);
        }

        return values;
    }

    private static string? NonEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;

    /// <summary>One entry of the file's <c>listeners</c>: a service on a port with its own settings.</summary>
    private sealed record ListenerEntry(ServiceKind Kind, int Port, Dictionary<ServerSetting, SettingValue> Values, bool PlainTcp, string Label);

    /// <summary>What the settings file says, checked key by key as it is read.</summary>
    private sealed class SettingsFile
    {
        public static readonly SettingsFile Empty = new("", null);

        private readonly string _name;
        private readonly string? _directory;

        private SettingsFile(string name, string? directory)
        {
            _name = name;
            _directory = directory;
        }

        public Dictionary<ServerSetting, SettingValue> Values { get; } = [];

        public List<ListenerEntry> Listeners { get; } = [];

        public static SettingsFile Read(string path)
        {
            if (Directory.Exists(path))
            {
                throw new SettingsException($"--config: {path} is a directory, not a settings file");
            }

            byte[] contents;
            try
            {
                contents = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new SettingsException($"--config: {path} does not exist");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new SettingsException($"--config: cannot read {path}: {ex.Message.TrimEnd('.')}");
            }

            var file = new SettingsFile(path, Path.GetDirectoryName(Path.GetFullPath(path)));
            try
            {
                using var document = JsonDocument.Parse(contents, FileOptions);
                file.ReadRoot(document.RootElement);
            }
            catch (JsonException ex)
            {
                // JsonException counts from zero; editors count lines and columns from one.
                throw new SettingsException($"{path}: not valid JSON at line {ex.LineNumber + 1}, column {ex.BytePositionInLine + 1}");
            }

            return file;
        }

        private void ReadRoot(JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new SettingsException($"{_name}: the settings must be one JSON object, {{ \"key\": value, ... }}");
            }

            foreach (var property in Properties(root, _name))
            {
                if (property.Name == ListenersKey)
                {
                    ReadListeners(property.Value);
                    continue;
                }

                var setting = KeyOf(property.Name, ServerSetting.All, $"{_name}: unknown key '{property.Name}'");
                Values[setting] = Value(setting, property.Value, $"{_name}: {property.Name}");
            }
        }

        private void ReadListeners(JsonElement listeners)
        {
            if (listeners.ValueKind != JsonValueKind.Array)
            {
                throw new SettingsException($"{_name}: {ListenersKey} must be a list of objects, [{{ \"service\": \"chat\", \"port\": 9999 }}]");
            }

            int index = 0;
            foreach (var listener in listeners.EnumerateArray())
            {
                Listeners.Add(ReadListener(listener, $"{_name}: {ListenersKey}[{index++}]"));
            }
        }

        private ListenerEntry ReadListener(JsonElement listener, string label)
        {
            if (listener.ValueKind != JsonValueKind.Object)
            {
                throw new SettingsException($"{label} must be an object such as {{ \"service\": \"chat\", \"port\": 9999 }}");
            }

            ServiceKind? kind = null;
            int? port = null;
            bool plainTcp = false;
            var values = new Dictionary<ServerSetting, SettingValue>();
            foreach (var property in Properties(listener, label))
            {
                string keyLabel = $"{label}.{property.Name}";
                switch (property.Name)
                {
                    case "service":
                        string service = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
                        kind = Enum.GetValues<ServiceKind>().Cast<ServiceKind?>().FirstOrDefault(k => ServiceNames.Of(k!.Value) == service)
                            ?? throw new SettingsException($"{keyLabel}: '{service}' is not a service: use {string.Join(", ", Enum.GetValues<ServiceKind>().Select(ServiceNames.Of))}");
                        break;
                    case "port":
                        port = Value(ServerSetting.Named("chat"), property.Value, keyLabel).Port();
                        if (port is > 65535)
                        {
                            throw new SettingsException($"{keyLabel}: port {port} is not between 0 and 65535");
                        }

                        break;
                    case "tlsCert" when property.Value.ValueKind == JsonValueKind.Null:
                        // Explicitly plain TCP beside process-wide TLS (a loopback-only listener for local tools).
                        plainTcp = true;
                        break;
                    default:
                        var setting = KeyOf(property.Name, ServerSetting.ForListeners, $"{keyLabel}: not a key a listener can have (it can have service, port, {string.Join(", ", ServerSetting.ForListeners.Select(s => s.Key))})");
                        values[setting] = Value(setting, property.Value, keyLabel);
                        break;
                }
            }

            if (kind is not { } serviceKind || port is not { } listenPort)
            {
                throw new SettingsException($"{label} needs a service and a port, as {{ \"service\": \"chat\", \"port\": 9999 }}");
            }

            if (ServiceNames.IsUdp(serviceKind) && (plainTcp || values.Keys.Any(setting => setting.Name != "bind")))
            {
                throw new SettingsException($"{label}: a UDP service takes only service, port and bind");
            }

            return new ListenerEntry(serviceKind, listenPort, values, plainTcp, label);
        }

        /// <summary>A JSON value as the texts a flag would carry, so the same parser reads both.</summary>
        private SettingValue Value(ServerSetting setting, JsonElement element, string label)
        {
            IReadOnlyList<string> texts = (setting.Shape, element.ValueKind) switch
            {
                (SettingShape.List, JsonValueKind.Array) => element.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.String
                    ? item.GetString()!
                    : throw new SettingsException($"{label}: {item.GetRawText()} is not a text such as \"192.168.0.0/16\"")).ToList(),
                (SettingShape.Switch, JsonValueKind.True or JsonValueKind.False or JsonValueKind.Number) => [element.GetRawText()],
                (SettingShape.Switch, not JsonValueKind.String) => throw new SettingsException($"{label}: {element.GetRawText()} is not true or false"),
                (_, JsonValueKind.String) => [element.GetString()!],
                (not SettingShape.List, JsonValueKind.Number) => [element.GetRawText()],
                (SettingShape.List, _) => throw new SettingsException($"{label} must be a list such as [\"192.168.0.0/16\"]"),
                _ => throw new SettingsException($"{label}: {element.GetRawText()} is not a text or a number"),
            };
            return new SettingValue(texts, label, _directory);
        }

        private static ServerSetting KeyOf(string key, IEnumerable<ServerSetting> allowed, string unknown)
        {
            var candidates = allowed.ToList();
            if (candidates.FirstOrDefault(setting => setting.Key == key) is { } setting)
            {
                return setting;
            }

            // A near miss is usually a typo or the flag's spelling ("max-line"); say which key was meant.
            string loose = key.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();
            var nearest = candidates.Select(setting => (setting.Key, Distance: Distance(setting.Key.ToLowerInvariant(), loose))).MinBy(candidate => candidate.Distance);
            throw new SettingsException(nearest.Key is not null && nearest.Distance <= 2
                ? $"{unknown}: did you mean '{nearest.Key}'?"
                : $"{unknown} (see docs/configuration.md)");
        }

        // JsonDocument keeps both copies of a repeated key; which one would count is not obvious, so neither does.
        private static IEnumerable<JsonProperty> Properties(JsonElement element, string label)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in element.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw new SettingsException($"{label}: {property.Name} is given twice");
                }

                yield return property;
            }
        }

        // Levenshtein distance: keys are short, so the quadratic table costs nothing.
        private static int Distance(string a, string b)
        {
            var row = Enumerable.Range(0, b.Length + 1).ToArray();
            for (int i = 1; i <= a.Length; i++)
            {
                int diagonal = row[0];
                row[0] = i;
                for (int j = 1; j <= b.Length; j++)
                {
                    int above = row[j];
                    row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                    diagonal = above;
                }
            }

            return row[b.Length];
        }
    }
}
