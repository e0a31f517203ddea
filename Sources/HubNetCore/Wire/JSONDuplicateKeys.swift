/// Finds a key that appears twice in one JSON object.
///
/// Foundation's `JSONDecoder` keeps one of two equal keys silently (`{"roles":["viewer"],
/// "roles":["admin"]}` stores viewer), so a body that says two things is refused before decoding.
/// The scan is a single pass over the bytes with an explicit stack (no recursion, so depth cannot
/// exhaust the stack); keys are compared after their escapes are decoded. Input that is not JSON is
/// left for the decoder to refuse.
public enum JSONDuplicateKeys {
    /// The path of the first repeated key (`admin.email`, `mutations[2].name`), or `nil`.
    public static func first(in bytes: some Collection<UInt8>) -> String? {
        var scanner = JSONPathScanner(Array(bytes))
        return scanner.run()
    }
}
