// acl: allow/deny groups (Kong semantics), config errors naming the key, no identity.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { createAcl } from '../../src/gateway/authz/acl.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import { gatewayRequest, identity, refusal } from './limits-harness.js';

const PATH = 'gateway.services[0].plugins[0].config';

function configError(config: Record<string, unknown>): ConfigError {
  try {
    createAcl(config, PATH);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('acl config', () => {
  it('is registered as an authorize-stage plugin', async () => {
    const factory = PLUGINS.get('acl');
    assert.ok(factory);
    const instance = await factory.create({ allow: ['admin'] }, undefined as never, PATH);
    assert.equal(instance.stage, 'authorize');
    assert.equal(instance.impl.name, 'acl');
  });

  it('needs exactly one of allow and deny', () => {
    const both = configError({ allow: ['a'], deny: ['b'] });
    assert.equal(both.path, `${PATH}.deny`);
    assert.equal(both.message, `${PATH}.deny: not allowed together with allow`);
    const neither = configError({});
    assert.equal(neither.path, `${PATH}.allow`);
    assert.equal(neither.message, `${PATH}.allow: required unless deny is set`);
  });

  it('rejects unknown keys and wrong types by name', () => {
    assert.equal(configError({ allow: ['a'], whitelist: ['b'] }).path, `${PATH}.whitelist`);
    const wrong = configError({ allow: 'admin' });
    assert.equal(wrong.message, `${PATH}.allow: expected a list, got "admin"`);
    assert.equal(configError({ allow: [] }).message, `${PATH}.allow: expected at least 1 item(s), got 0`);
    assert.equal(configError({ deny: ['x'], hide_groups_header: 'yes' }).path, `${PATH}.hide_groups_header`);
  });
});

describe('acl allow', () => {
  const acl = createAcl({ allow: ['admin', 'partners'] }, PATH);

  it('lets a member of an allowed group through and sends its groups upstream', async () => {
    const gr = gatewayRequest({ identity: identity({ groups: ['staff', 'admin'] }) });
    await acl.authorize(gr);
    assert.deepEqual(gr.upstreamHeaders, { 'x-consumer-groups': 'staff, admin' });
  });

  it("counts the consumer's groups too", async () => {
    const gr = gatewayRequest({ identity: identity({ consumer: 'partner-a', consumerGroups: ['partners'] }) });
    await acl.authorize(gr);
    assert.equal(gr.upstreamHeaders['x-consumer-groups'], 'partners');
    const both = gatewayRequest({ identity: identity({ consumer: 'p', groups: ['a'], consumerGroups: ['partners', 'a'] }) });
    await acl.authorize(both);
    assert.equal(both.upstreamHeaders['x-consumer-groups'], 'a, partners');
  });

  it('refuses everyone else with 403 forbidden', async () => {
    const err = await refusal(() => acl.authorize(gatewayRequest({ identity: identity({ groups: ['staff'] }) })));
    assert.equal(err.status, 403);
    assert.equal(err.code, 'forbidden');
    assert.equal(err.message, 'you cannot consume this service');
    assert.equal(err.reason, 'acl');
    assert.deepEqual(err.headers, {});
    const none = await refusal(() => acl.authorize(gatewayRequest({ identity: identity({ consumer: 'x' }) })));
    assert.equal(none.status, 403);
  });

  it('refuses a request nobody authenticated with 403 "no consumer identified"', async () => {
    const err = await refusal(() => acl.authorize(gatewayRequest()));
    assert.equal(err.status, 403);
    assert.equal(err.code, 'forbidden');
    assert.equal(err.message, 'no consumer identified');
  });

  it('hide_groups_header keeps the groups to itself', async () => {
    const hidden = createAcl({ allow: ['admin'], hide_groups_header: true }, PATH);
    const gr = gatewayRequest({ identity: identity({ groups: ['admin'] }) });
    await hidden.authorize(gr);
    assert.deepEqual(gr.upstreamHeaders, {});
    assert.deepEqual(gr.omitUpstreamHeaders, new Set(['x-consumer-groups']));
  });
});

describe('acl deny', () => {
  const acl = createAcl({ deny: ['banned'] }, PATH);

  it('refuses members of a denied group, from identity or consumer', async () => {
    const own = await refusal(() => acl.authorize(gatewayRequest({ identity: identity({ groups: ['users', 'banned'] }) })));
    assert.equal(own.status, 403);
    const consumer = await refusal(() =>
      acl.authorize(gatewayRequest({ identity: identity({ consumer: 'c', consumerGroups: ['banned'] }) })),
    );
    assert.equal(consumer.code, 'forbidden');
  });

  it('lets everyone else through, including callers without groups', async () => {
    const gr = gatewayRequest({ identity: identity({ groups: ['users'] }) });
    await acl.authorize(gr);
    assert.deepEqual(gr.upstreamHeaders, { 'x-consumer-groups': 'users' });
    const bare = gatewayRequest({ identity: identity({ consumer: 'c' }) });
    await acl.authorize(bare);
    assert.deepEqual(bare.upstreamHeaders, {});
  });
});
