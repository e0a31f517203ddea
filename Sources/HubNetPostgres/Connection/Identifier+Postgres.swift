import Foundation
import HubNetCore
import NIOCore
import PostgresNIO

/// Typed identifiers travel as `UUID` columns.
extension Identifier: PostgresEncodable, PostgresNonThrowingEncodable {
    public static var psqlType: PostgresDataType { UUID.psqlType }
    public static var psqlFormat: PostgresFormat { UUID.psqlFormat }

    public func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        rawValue.encode(into: &byteBuffer, context: context)
    }
}

extension Identifier: PostgresDecodable {
    public init<JSONDecoder: PostgresJSONDecoder>(
        from byteBuffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        self.init(try UUID(from: &byteBuffer, type: type, format: format, context: context))
    }
}

extension Identifier: PostgresArrayEncodable {
    public static var psqlArrayType: PostgresDataType { UUID.psqlArrayType }
}

extension Identifier: PostgresArrayDecodable {}
