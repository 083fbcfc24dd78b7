// This node: its name, its id (text, copy button, QR code) and whether it serves its peers.
import type { NodeInfo } from '../api';
import type { LiveState } from '../live';
import { CopyButton, Loading, QrCode, Section } from '../components';
import { printable } from '../format';

export function NodeSection({ node, live }: { node: NodeInfo | null; live: LiveState }) {
  if (!node) return <Loading what="this node" />;
  return (
    <Section title="This node">
      <div class="node-grid">
        <dl class="facts">
          <dt>Name</dt>
          <dd data-testid="node-name">{printable(node.name)}</dd>
          <dt id="node-id-label">Node id</dt>
          <dd class="node-id-row">
            <code class="node-id" data-testid="node-id" aria-labelledby="node-id-label">
              {node.nodeId}
            </code>
            <CopyButton text={node.nodeId} label="Copy the node id" testid="node-id-copy" />
          </dd>
          <dt>Status</dt>
          <dd data-testid="node-status" data-serving={node.serving ? 'yes' : 'no'}>
            {node.serving ? (
              <>
                <span class="ok">Serving peers</span> on <code data-testid="node-serving">{`${node.serving.host}:${node.serving.port}`}</code>
              </>
            ) : (
              <>
                <span class="warn">Not serving peers</span>: this node can send and download, but peers cannot send
                to it. Run <code>p2pfx serve --ui</code> to do both.
              </>
            )}
          </dd>
          <dt>Live updates</dt>
          <dd>{live === 'open' ? 'connected' : live === 'connecting' ? 'connecting…' : 'disconnected (reload the page)'}</dd>
          {node.isCa ? (
            <>
              <dt>Role</dt>
              <dd data-testid="node-ca">Certificate authority of this network (can invite machines)</dd>
            </>
          ) : null}
          <dt>Home</dt>
          <dd>
            <code data-testid="node-home">{printable(node.home)}</code>
          </dd>
          <dt>Version</dt>
          <dd data-testid="node-version">p2pfx {node.version}</dd>
        </dl>
        <figure class="qr-box">
          <QrCode text={node.nodeId} label={`QR code of the node id ${node.nodeId}`} testid="node-qr" />
          <figcaption class="muted">Compare this id with the one a peer shows for this node.</figcaption>
        </figure>
      </div>
    </Section>
  );
}
