/** Small shared pieces: the live clock for ages, a table, the confirm dialog, the error line. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** Now, refreshed every 5 s so ages move (no request involved). */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function DataTable({ label, head, rows, keys, empty }: { label: string; head: readonly string[]; rows: ComponentChildren[][]; keys?: readonly string[]; empty?: string }) {
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          {head.map((h) => (
            <th scope="col" key={h}>
              {h}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colSpan={head.length}>{empty ?? 'No resources found.'}</td>
          </tr>
        ) : (
          rows.map((r, i) => (
            <tr key={keys?.[i] ?? i}>
              {r.map((c, j) => (
                <td key={j}>{c}</td>
              ))}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

export function ErrorLine({ message }: { message?: string }) {
  return message ? (
    <p role="alert" class="error">
      {message}
    </p>
  ) : null;
}

/** A modal confirmation (<dialog>, focus on Cancel, Escape cancels). */
export function Confirm({ title, children, confirmLabel, onConfirm, onCancel }: { title: string; children: ComponentChildren; confirmLabel: string; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} role="alertdialog" aria-label={title} onCancel={(e) => (e.preventDefault(), onCancel())}>
      <h2>{title}</h2>
      <div>{children}</div>
      <div class="buttons">
        <button type="button" autofocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
