import { describe, expect, it } from 'vitest';
import { openApiV2, wantsProtobufV2 } from '../../functions/api/openapi-v2';

/** Reads the top-level fields of a protobuf message: field number → raw values (length-delimited as Buffers). */
function fields(buf: Buffer): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>();
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const wire = key & 7;
    let value: Buffer;
    if (wire === 2) {
      const n = varint();
      value = buf.subarray(i, i + n);
      i += n;
    } else if (wire === 0) value = Buffer.from([varint()]);
    else if (wire === 1) {
      value = buf.subarray(i, i + 8);
      i += 8;
    }
    else throw new Error(`wire ${wire}`);
    out.set(key >> 3, [...(out.get(key >> 3) ?? []), value]);
  }
  return out;
}

describe('/openapi/v2', () => {
  it('publishes every kind as a definition with its group-version-kind, in v2 form', () => {
    // Act
    const { json } = openApiV2();
    const defs = json.definitions as Record<string, Record<string, unknown>>;
    // Assess
    expect(json.swagger).toBe('2.0');
    expect(defs['io.k8s.api.core.v1.Pod']!['x-kubernetes-group-version-kind']).toEqual([{ group: '', version: 'v1', kind: 'Pod' }]);
    expect(defs['io.k8s.api.apps.v1.Deployment']).toBeDefined();
    const text = JSON.stringify(defs);
    expect(text).not.toContain('#/components/schemas/');
    expect(text).not.toContain('"allOf"');
    expect((defs['io.k8s.api.core.v1.PodSpec']!.properties as Record<string, Record<string, unknown>>).containers).toMatchObject({ 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge' });
  });

  it('encodes gnostic openapi.v2.Document: swagger (1), info (2), definitions (9) of named schemas', () => {
    // Act
    const doc = fields(openApiV2().proto);
    // Assess
    expect(doc.get(1)![0]!.toString()).toBe('2.0');
    const named = fields(doc.get(9)![0]!).get(1)!.map((b) => fields(b));
    const pod = named.find((n) => n.get(1)![0]!.toString() === 'io.k8s.api.core.v1.Pod')!;
    const schema = fields(pod.get(2)![0]!);
    expect(fields(schema.get(22)![0]!).get(1)![0]!.toString()).toBe('object'); // type
    const props = fields(schema.get(25)![0]!).get(1)!.map((b) => fields(b).get(1)![0]!.toString());
    expect(props).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'metadata', 'spec', 'status']));
    const gvk = schema.get(31)!.map((b) => fields(b)).find((n) => n.get(1)![0]!.toString() === 'x-kubernetes-group-version-kind')!;
    expect(JSON.parse(fields(gvk.get(2)![0]!).get(2)![0]!.toString())).toEqual([{ group: '', version: 'v1', kind: 'Pod' }]);
  });

  it.each([
    ['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', true],
    ['application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json', true],
    ['application/json', false],
    [undefined, false],
  ])('Accept %j asks for protobuf: %s', (accept, wanted) => {
    // Assess
    expect(wantsProtobufV2(accept)).toBe(wanted);
  });
});
