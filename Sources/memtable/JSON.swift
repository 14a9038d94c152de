// SPDX-License-Identifier: GPL-2.0-only
//
// The reports' JSON: their Codable types written as FoundationEssentials'
// JSONEncoder writes them with [.sortedKeys, .withoutEscapingSlashes], without
// its first-use cost. JSONEncoder's first encode in a process takes 0.2 ms
// (25 us the second time), a tenth of a scan of 1 GiB of huge pages; this
// takes a few tens of microseconds. Tests/MemTableTests/JSONTests.swift holds
// it to JSONEncoder, byte for byte.

/// Encodable values as JSON text: keys sorted (by their UTF-8 bytes), nil
/// omitted, `/` as is, control characters escaped, a Double as its
/// `description` without a trailing `.0`, no spaces.
enum JSON {
    static func string<T: Encodable>(_ value: T) throws -> String {
        let root = Node()
        try value.encode(to: TreeEncoder(node: root, codingPath: []))
        var out = ""
        root.write(to: &out)
        return out
    }

    /// A value under construction: containers hand out children as they go
    /// (appended in place: a copy of the array per element would make a
    /// list of n pages cost n^2).
    final class Node {
        enum Kind { case none, object, array, scalar }

        var kind = Kind.none
        var members: [(key: String, node: Node)] = []
        var elements: [Node] = []
        var text = ""

        func write(to out: inout String) {
            switch kind {
            case .none:
                out += "{}"
            case .scalar:
                out += text
            case .array:
                out += "["
                for (i, node) in elements.enumerated() {
                    if i > 0 { out += "," }
                    node.write(to: &out)
                }
                out += "]"
            case .object:
                out += "{"
                let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                for (i, member) in sorted.enumerated() {
                    if i > 0 { out += "," }
                    JSON.quote(member.key, to: &out)
                    out += ":"
                    member.node.write(to: &out)
                }
                out += "}"
            }
        }

        func set(_ scalar: String) {
            kind = .scalar
            text = scalar
        }

        /// A new member of this object.
        func member(_ key: String) -> Node {
            let node = Node()
            kind = .object
            members.append((key, node))
            return node
        }

        /// A new element of this array.
        func element() -> Node {
            let node = Node()
            kind = .array
            elements.append(node)
            return node
        }
    }

    static func quote(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{c}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    static func number(_ value: Double) -> String {
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// A scalar's text; nil for anything else. By the type's identity, not by
    /// casts to protocols: `value as? any BinaryInteger` looks the conformance
    /// up, which the first time for each type scans every conformance record
    /// in the executable (60 us a report in a static build).
    static func scalar<T: Encodable>(_ value: T) -> String? {
        func integer<I: BinaryInteger>(_: I.Type) -> String? {
            T.self == I.self ? "\(value as! I)" : nil
        }
        switch ObjectIdentifier(T.self) {
        case ObjectIdentifier(String.self):
            var out = ""
            quote(value as! String, to: &out)
            return out
        case ObjectIdentifier(Bool.self): return value as! Bool ? "true" : "false"
        case ObjectIdentifier(Double.self): return number(value as! Double)
        case ObjectIdentifier(Float.self): return number(Double(value as! Float))
        default:
            return integer(Int.self) ?? integer(UInt64.self) ?? integer(Int32.self) ?? integer(UInt16.self)
                ?? integer(UInt.self) ?? integer(Int64.self) ?? integer(UInt32.self) ?? integer(Int16.self)
                ?? integer(UInt8.self) ?? integer(Int8.self)
        }
    }

    /// Encodes a value into a node: a scalar, or whatever containers it asks for.
    static func encode<T: Encodable>(_ value: T, into node: Node, codingPath: [CodingKey]) throws {
        if let text = scalar(value) {
            node.set(text)
        } else {
            try value.encode(to: TreeEncoder(node: node, codingPath: codingPath))
        }
    }

    struct TreeEncoder: Encoder {
        let node: Node
        var codingPath: [CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            node.kind = .object
            return KeyedEncodingContainer(Keyed<Key>(node: node, codingPath: codingPath))
        }

        func unkeyedContainer() -> UnkeyedEncodingContainer {
            node.kind = .array
            return Unkeyed(node: node, codingPath: codingPath)
        }

        func singleValueContainer() -> SingleValueEncodingContainer { Single(node: node, codingPath: codingPath) }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: Node
        var codingPath: [CodingKey]

        mutating func encodeNil(forKey key: Key) throws { node.member(key.stringValue).set("null") }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try JSON.encode(value, into: node.member(key.stringValue), codingPath: codingPath + [key])
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            TreeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
            TreeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> Encoder {
            TreeEncoder(node: node.member("super"), codingPath: codingPath)
        }
        mutating func superEncoder(forKey key: Key) -> Encoder {
            TreeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key])
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let node: Node
        var codingPath: [CodingKey]
        var count: Int { node.elements.count }

        mutating func encodeNil() throws { node.element().set("null") }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try JSON.encode(value, into: node.element(), codingPath: codingPath)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
            -> KeyedEncodingContainer<NestedKey>
        {
            TreeEncoder(node: node.element(), codingPath: codingPath).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
            TreeEncoder(node: node.element(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superEncoder() -> Encoder { TreeEncoder(node: node.element(), codingPath: codingPath) }
    }

    struct Single: SingleValueEncodingContainer {
        let node: Node
        var codingPath: [CodingKey]

        mutating func encodeNil() throws { node.set("null") }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try JSON.encode(value, into: node, codingPath: codingPath)
        }
    }
}
