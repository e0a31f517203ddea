import Foundation

/// The FHIR R4 resources HubNet serves (read-only views of referrals): only the elements it fills,
/// with FHIR's own element names, so the JSON is FHIR's JSON.
public enum FHIR {
    /// The media type of FHIR's JSON format.
    public static let mediaType = "application/fhir+json"
    /// The Gravity SDOH Clinical Care profile of a referral's Task, which these views follow.
    public static let taskProfile = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"
    /// Identifier systems for HubNet's own ids.
    public static let referralSystem = "urn:hubnet:referral"
    public static let organizationSystem = "urn:hubnet:tenant"
    /// The code system of a workflow's statuses (the code is the status key, unique per template).
    public static let workflowStatusSystem = "urn:hubnet:workflow-status"

    public struct Meta: Codable, Sendable, Equatable {
        public var lastUpdated: String?
        public var profile: [String]?
    }

    public struct Identifier: Codable, Sendable, Equatable {
        public var system: String
        public var value: String
    }

    public struct Coding: Codable, Sendable, Equatable {
        public var system: String?
        public var code: String
        public var display: String?
    }

    public struct CodeableConcept: Codable, Sendable, Equatable {
        public var coding: [Coding]?
        public var text: String?
    }

    public struct Reference: Codable, Sendable, Equatable {
        public var reference: String?
        public var identifier: Identifier?
        public var display: String?
    }

    public struct Period: Codable, Sendable, Equatable {
        public var start: String?
        public var end: String?
    }

    public struct Task: Codable, Sendable, Equatable {
        public struct Output: Codable, Sendable, Equatable {
            public var type: CodeableConcept
            public var valueCodeableConcept: CodeableConcept
        }

        public var resourceType = "Task"
        public var id: String
        public var meta: Meta
        public var identifier: [Identifier]
        public var basedOn: [Reference]
        public var status: String
        public var statusReason: CodeableConcept?
        public var businessStatus: CodeableConcept
        public var intent: String
        public var priority: String
        public var code: CodeableConcept
        public var focus: Reference
        public var authoredOn: String
        public var lastModified: String
        public var requester: Reference
        public var owner: Reference
        public var executionPeriod: Period?
        public var output: [Output]?
    }

    public struct ServiceRequest: Codable, Sendable, Equatable {
        public var resourceType = "ServiceRequest"
        public var id: String
        public var meta: Meta
        public var identifier: [Identifier]
        public var status: String
        public var intent: String
        public var code: CodeableConcept
        public var subject: Reference
        public var authoredOn: String
        public var requester: Reference
        public var performer: [Reference]
    }

    public struct Organization: Codable, Sendable, Equatable {
        public var resourceType = "Organization"
        public var id: String
        public var identifier: [Identifier]
        public var active: Bool
        public var type: [CodeableConcept]
        public var name: String
    }

    /// One resource of a bundle.
    public enum Resource: Encodable, Sendable, Equatable {
        case task(Task)
        case serviceRequest(ServiceRequest)
        case organization(Organization)

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .task(let task): try task.encode(to: encoder)
            case .serviceRequest(let request): try request.encode(to: encoder)
            case .organization(let organization): try organization.encode(to: encoder)
            }
        }

        public var reference: String {
            switch self {
            case .task(let task): "Task/\(task.id)"
            case .serviceRequest(let request): "ServiceRequest/\(request.id)"
            case .organization(let organization): "Organization/\(organization.id)"
            }
        }
    }

    /// A search result: the matches, then the resources they refer to (`search.mode` tells which).
    public struct Bundle: Encodable, Sendable {
        public struct Link: Encodable, Sendable {
            public var relation: String
            public var url: String
            public init(relation: String, url: String) {
                self.relation = relation
                self.url = url
            }
        }
        public struct Entry: Encodable, Sendable {
            public struct Search: Encodable, Sendable {
                public var mode: String
                public init(mode: String) { self.mode = mode }
            }
            public var fullUrl: String
            public var resource: Resource
            public var search: Search
            public init(fullUrl: String, resource: Resource, search: Search) {
                self.fullUrl = fullUrl
                self.resource = resource
                self.search = search
            }
        }
        public var resourceType = "Bundle"
        public var type = "searchset"
        public var link: [Link]
        public var entry: [Entry]

        public init(link: [Link], entry: [Entry]) {
            self.link = link
            self.entry = entry
        }
    }

    /// FHIR's error resource, for errors under `/fhir`.
    public struct OperationOutcome: Encodable, Sendable {
        public struct Issue: Encodable, Sendable {
            public var severity = "error"
            public var code: String
            public var details: CodeableConcept
            public var diagnostics: String
            public var expression: [String]?
        }
        public var resourceType = "OperationOutcome"
        public var issue: [Issue]

        /// The outcome of an error answered with HTTP `status`: FHIR's issue type for the status,
        /// HubNet's machine-readable code as the detail, the field at fault as the expression.
        public init(status: Int, code: String, message: String, field: String?) {
            let issueCode: String =
                switch status {
                case 400, 413, 415, 422: "invalid"
                case 401: "login"
                case 403: "forbidden"
                case 404: "not-found"
                case 405: "not-supported"
                case 409: "conflict"
                case 429: "throttled"
                case 503: "transient"
                default: "exception"
                }
            issue = [
                Issue(
                    code: issueCode, details: CodeableConcept(coding: [Coding(system: "urn:hubnet:error", code: code, display: nil)], text: message),
                    diagnostics: message, expression: field.map { [$0] })
            ]
        }
    }
}
