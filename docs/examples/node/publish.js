#!/usr/bin/env node
// Publish one kyc-archiver archive request to RabbitMQ and wait for the broker's confirm.
//
//   node publish.js --amqp-url amqp://user:pass@rabbitmq:5672/%2f --queue kyc-archiver.work \
//       --transaction-id hksb7ba1b28130d24e015d694361bee4 --merchant-biz-id e0c34a77f5ac40a5aa5e6ed20c350001 \
//       [--completed-at 2026-11-21T10:00:00Z] [--product eKYC]
//
// Exit status 0 means the broker confirmed the message: it is stored in the work queue.
// Message format: docs/schemas/archive-request-v1.schema.json. Needs `npm ci` (amqplib).
'use strict';
const { parseArgs } = require('node:util');
const amqp = require('amqplib');

async function publish(args) {
  const queue = args.queue;
  const message = { version: 1, transaction_id: args['transaction-id'], merchant_biz_id: args['merchant-biz-id'] };
  if (args['completed-at']) message.completed_at = args['completed-at'];
  if (args.product) message.product = args.product;

  const connection = await amqp.connect(args['amqp-url']).catch((e) => {
    throw new Error(`cannot connect to the broker: ${e.message}`);
  });
  connection.on('error', () => {}); // failures surface as rejected promises below
  try {
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => {});
    let returned = null; // mandatory + no route: the broker sends basic.return before its ack
    channel.on('return', (m) => { returned = m.fields; });
    // Passive: only checks that the worker declared the queue; never (re)declare it here.
    await channel.checkQueue(queue).catch((e) => {
      throw new Error(`queue '${queue}' not usable: ${e.message} (is the worker running?)`);
    });
    channel.publish('', queue, Buffer.from(JSON.stringify(message)), {
      persistent: true, mandatory: true, contentType: 'application/json',
    });
    await channel.waitForConfirms().catch((e) => { // rejects on a nack or a lost channel
      throw new Error(`not confirmed by the broker (${e.message}); publish it again later`);
    });
    if (returned) throw new Error(`message returned unroutable (${returned.replyCode} ${returned.replyText}): no queue '${queue}'`);
  } finally {
    await connection.close().catch(() => {});
  }
}

let args;
try {
  args = parseArgs({ options: {
    'amqp-url': { type: 'string' }, queue: { type: 'string', default: 'kyc-archiver.work' },
    'transaction-id': { type: 'string' }, 'merchant-biz-id': { type: 'string' },
    'completed-at': { type: 'string' }, product: { type: 'string' },
  } }).values;
  for (const k of ['amqp-url', 'transaction-id', 'merchant-biz-id']) if (!args[k]) throw new Error(`--${k} is required`);
} catch (e) {
  console.error(`publish.js: ${e.message}`);
  process.exit(2);
}
publish(args).then(
  () => console.log(`published ${args['transaction-id']} to ${args.queue} (confirmed by the broker)`),
  (e) => { console.error(`publish.js: ${e.message}`); process.exitCode = 1; },
);
