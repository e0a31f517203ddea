/// The one shape of every error answer, as the server writes it and clients read it:
/// `{"error": {"code": "…", "message": "…", "field": "…"}}`, with the optional members below.
public struct ErrorEnvelope: Sendable, Codable, Equatable {
    public struct Detail: Sendable, Codable, Equatable {
        /// Stable, snake_case; the README and the OpenAPI document list every one.
        public var code: String
        /// For people; may change.
        public var message: String
        /// The input at fault, as a path (`contact.email`, `mutations[3].due_at`).
        public var field: String?
        /// Every problem, when there are several (a lead import's rows).
        public var details: [LeadImport.RowError]?
        /// `device_revoked`, `user_deactivated`: the last mutation of this device the server applied.
        public var lastMutationId: Int64?
        /// `device_revoked`, `user_deactivated`: the device must delete its local data.
        public var wipe: Bool?

        public init(
            code: String, message: String, field: String? = nil, details: [LeadImport.RowError]? = nil,
            lastMutationId: Int64? = nil, wipe: Bool? = nil
        ) {
            self.code = code
            self.message = message
            self.field = field
            self.details = details
            self.lastMutationId = lastMutationId
            self.wipe = wipe
        }

        enum CodingKeys: String, CodingKey {
            case code, message, field, details, wipe
            case lastMutationId = "last_mutation_id"
        }
    }

    public var error: Detail

    public init(_ error: Detail) { self.error = error }
}
