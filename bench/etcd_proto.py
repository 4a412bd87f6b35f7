"""etcd_proto.py: the few etcd v3 gRPC messages the bench needs, encoded
and decoded by hand (protobuf wire format), so no generated code or protoc
is needed.

    PutRequest      1: key bytes, 2: value bytes
    RangeRequest    1: key bytes, 7: serializable bool
    StatusRequest   (empty)
    StatusResponse  1: header {1: cluster_id, 2: member_id, 3: revision,
                    4: raft_term}, 2: version, 3: dbSize, 4: leader,
                    5: raftIndex, 6: raftTerm
"""
PUT = "/etcdserverpb.KV/Put"
RANGE = "/etcdserverpb.KV/Range"
STATUS = "/etcdserverpb.Maintenance/Status"

_VARINT = 0
_LENGTH_DELIMITED = 2


def varint(n):
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_bytes(number, value):
    return varint(number << 3 | _LENGTH_DELIMITED) + varint(len(value)) + value


def put_request(key, value):
    return _field_bytes(1, key) + _field_bytes(2, value)


def range_request(key, serializable=True):
    message = _field_bytes(1, key)
    if serializable:
        message += varint(7 << 3 | _VARINT) + varint(1)
    return message


def _read_varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def fields(data):
    """{field number: value} of a message: ints for varints, bytes for
    length-delimited fields; other wire types are refused."""
    out, pos = {}, 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            out[number], pos = _read_varint(data, pos)
        elif wire_type == _LENGTH_DELIMITED:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field %d" % number)
            out[number] = data[pos:pos + length]
            pos += length
        else:
            raise ValueError("unexpected wire type %d" % wire_type)
    return out


def status_response(data):
    """(member_id, leader_id, revision) from a StatusResponse."""
    message = fields(data)
    header = fields(message.get(1, b""))
    return header.get(2, 0), message.get(4, 0), header.get(3, 0)
