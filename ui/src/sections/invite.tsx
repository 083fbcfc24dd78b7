// Invite a new machine (the CA's node only): a one-time code and the command to type there.
import { useEffect, useState } from 'preact/hooks';
import { api, asError, type ApiError, type Invite } from '../api';
import { CopyButton, ErrorBox, Section } from '../components';
import { formatEta, isoDate, toDate } from '../format';

export function InviteSection() {
  const [invite, setInvite] = useState<Invite | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    if (!invite) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [invite]);

  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      setInvite(await api<Invite>('POST', '/api/invite'));
      setNow(Date.now());
    } catch (e) {
      setError(asError(e));
    } finally {
      setBusy(false);
    }
  };

  const expires = toDate(invite?.expiresAt);
  const left = expires ? (expires.getTime() - now) / 1000 : null;
  const expired = left !== null && left <= 0;

  return (
    <Section title="Invite a machine">
      <p>
        This node holds the network's CA key. An invite is a one-time code: on the new machine, type the command below; its
        key is made there and never leaves it.
      </p>
      <button type="button" onClick={() => void create()} disabled={busy} data-testid="invite-create">
        {busy ? 'Creating…' : invite ? 'New invite' : 'Create an invite'}
      </button>
      <ErrorBox error={error} testid="invite-error" />
      {invite ? (
        <div class="invite" data-testid="invite">
          <dl class="facts">
            <dt>Code</dt>
            <dd>
              <code class="big" data-testid="invite-code">
                {invite.code}
              </code>
            </dd>
            <dt>On the new machine</dt>
            <dd class="node-id-row">
              <code data-testid="invite-join">{invite.join}</code>
              <CopyButton text={invite.join} label="Copy the join command" testid="invite-copy" />
            </dd>
            <dt>Expires</dt>
            <dd data-testid="invite-expires">
              <time dateTime={isoDate(invite.expiresAt)}>{expired ? 'expired: create a new one' : `in ${formatEta(left)}`}</time>
            </dd>
          </dl>
        </div>
      ) : null}
    </Section>
  );
}
