/**
 * Query parameters as Kubernetes' parameter codec reads them (apimachinery runtime's
 * Convert_Slice_string_To_bool and Convert_Slice_string_To_Pointer_bool): the first value of a
 * parameter counts; an absent parameter, `0` and `false` in any case are false; any other value,
 * the empty string included, is true. Every boolean query parameter of the API goes through here
 * (watch, follow, previous, timestamps, stdin, stdout, stderr, tty, allowWatchBookmarks,
 * sendInitialEvents, insecureSkipTLSVerifyBackend), so `watch=True` and `follow=yes` mean what
 * they mean to kube-apiserver. `pretty` alone is read with Go's strconv.ParseBool (isPrettyPrint).
 */

/** A query value as the codec converts it to bool; `null` (absent) is false. */
export function codecBool(value: string | null | undefined): boolean {
  if (value === null || value === undefined) return false;
  return value !== '0' && value.toLowerCase() !== 'false';
}

/** A boolean query parameter (`bool` field of an options struct): absent is false. */
export function queryBool(query: URLSearchParams, name: string): boolean {
  return codecBool(query.get(name));
}

/** A `*bool` field (sendInitialEvents): undefined when absent, else as codecBool. */
export function queryOptionalBool(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name);
  return v === null ? undefined : codecBool(v);
}

/** Go's strconv.ParseBool; undefined for a value it refuses. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  return undefined;
}

/**
 * Whether a response is pretty-printed, as kube-apiserver's isPrettyPrint decides: a non-empty
 * `pretty` parameter through strconv.ParseBool (an invalid value is false); otherwise true for
 * curl, Wget and browsers by their User-Agent.
 */
export function prettyPrint(query: URLSearchParams, userAgent: string | undefined): boolean {
  const p = query.get('pretty');
  if (p !== null && p !== '') return parseGoBool(p) ?? false;
  const ua = userAgent ?? '';
  return ua.startsWith('curl') || ua.startsWith('Wget') || ua.startsWith('Mozilla/5.0');
}
