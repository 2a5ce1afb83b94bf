import { describe, expect, it } from 'vitest';
import { parseExecOptions } from '../../node-agent/exec';
import { parseLogOptions } from '../../node-agent/logs';
import { parseWatchQuery } from '../../functions/api/watch';
import { codecBool, parseGoBool, prettyPrint, queryBool, queryOptionalBool } from '../../shared/query';
import { resourceByName } from '../../shared/resources';

// Kubernetes' parameter codec (apimachinery runtime Convert_Slice_string_To_bool): absent, "0"
// and "false" in any case are false; any other value, the empty string included, is true.
describe('boolean query parameters', () => {
  it.each([
    [null, false],
    ['0', false],
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['fAlSe', false],
    ['', true],
    ['1', true],
    ['true', true],
    ['True', true],
    ['TRUE', true],
    ['yes', true],
    ['no', true],
    ['f', true],
    ['00', true],
  ])('%j → %s', (value, expected) => {
    // Prepare + Act + Assess
    expect(codecBool(value)).toBe(expected);
    const q = new URLSearchParams(value === null ? '' : `watch=${encodeURIComponent(value)}`);
    expect(queryBool(q, 'watch')).toBe(expected);
  });

  it('reads the first value of a repeated parameter, and a *bool is undefined when absent', () => {
    // Prepare + Act + Assess
    expect(queryBool(new URLSearchParams('watch=false&watch=true'), 'watch')).toBe(false);
    expect(queryOptionalBool(new URLSearchParams(''), 'sendInitialEvents')).toBeUndefined();
    expect(queryOptionalBool(new URLSearchParams('sendInitialEvents='), 'sendInitialEvents')).toBe(true);
    expect(queryOptionalBool(new URLSearchParams('sendInitialEvents=FALSE'), 'sendInitialEvents')).toBe(false);
  });

  it('reads pretty with strconv.ParseBool, an invalid value being false, else by User-Agent', () => {
    // Prepare + Act + Assess
    expect(parseGoBool('T')).toBe(true);
    expect(parseGoBool('yes')).toBeUndefined();
    expect(prettyPrint(new URLSearchParams('pretty=true'), 'kubectl/v1.31')).toBe(true);
    expect(prettyPrint(new URLSearchParams('pretty=1'), undefined)).toBe(true);
    expect(prettyPrint(new URLSearchParams('pretty=yes'), undefined)).toBe(false);
    expect(prettyPrint(new URLSearchParams('pretty=yes'), 'curl/8.0')).toBe(false);
    expect(prettyPrint(new URLSearchParams('pretty=false'), 'curl/8.0')).toBe(false);
    expect(prettyPrint(new URLSearchParams(''), 'curl/8.0')).toBe(true);
    expect(prettyPrint(new URLSearchParams('pretty='), 'Mozilla/5.0 (X11)')).toBe(true);
    expect(prettyPrint(new URLSearchParams(''), 'kubectl/v1.31')).toBe(false);
  });

  it('parses the watch options with the codec (allowWatchBookmarks=yes is true, not a 400)', () => {
    // Prepare
    const pods = resourceByName('pods');
    // Act
    const yes = parseWatchQuery(pods, new URLSearchParams('allowWatchBookmarks=yes'), () => 1);
    const no = parseWatchQuery(pods, new URLSearchParams('allowWatchBookmarks=False'), () => 1);
    const empty = parseWatchQuery(pods, new URLSearchParams('sendInitialEvents=&resourceVersionMatch=NotOlderThan&allowWatchBookmarks'), () => 1);
    // Assess
    expect(yes.allowWatchBookmarks).toBe(true);
    expect(no.allowWatchBookmarks).toBe(false);
    expect(empty.start).toEqual({ from: 'initial', endBookmark: true });
  });

  it('parses the kubelet log and exec options with the codec', () => {
    // Prepare + Act
    const logs = parseLogOptions(new URLSearchParams('follow=True&previous=0&timestamps='));
    const exec = parseExecOptions(new URLSearchParams('command=ls&stdout=True&stderr=FALSE&stdin=yes'));
    const none = parseExecOptions(new URLSearchParams('command=ls&stdout=false&stderr=0'));
    // Assess
    expect(logs).toEqual({ ok: true, options: { follow: true, previous: false, timestamps: true } });
    expect(exec).toEqual({ ok: true, options: { command: ['ls'], stdin: true, stdout: true, stderr: false, tty: false } });
    expect(none).toEqual({ ok: false, message: 'you must specify at least 1 of stdin, stdout, stderr' });
  });
});
