#!/usr/bin/env python3
"""Publish one kyc-archiver archive request to RabbitMQ and wait for the broker's confirm.

  publish.py --amqp-url amqp://user:pass@rabbitmq:5672/%2f --queue kyc-archiver.work \
      --transaction-id hksb7ba1b28130d24e015d694361bee4 --merchant-biz-id e0c34a77f5ac40a5aa5e6ed20c350001 \
      [--completed-at 2026-11-21T10:00:00Z] [--product eKYC]

Exit status 0 means the broker confirmed the message: it is stored in the work queue.
Message format: docs/schemas/archive-request-v1.schema.json. Needs `pip install pika`.
"""
import argparse
import json
import sys

import pika

p = argparse.ArgumentParser(description="Publish a kyc-archiver archive request (confirmed).")
p.add_argument("--amqp-url", required=True, help="amqp://user:password@host:5672/%%2f")
p.add_argument("--queue", default="kyc-archiver.work", help="<prefix>.work of the worker")
p.add_argument("--transaction-id", required=True)
p.add_argument("--merchant-biz-id", required=True)
p.add_argument("--completed-at", help="RFC 3339; drives the video deadline, strongly recommended")
p.add_argument("--product", help="eKYC, ID_OCR, FACE_LIVENESS, ...")
args = p.parse_args()

message = {"version": 1, "transaction_id": args.transaction_id, "merchant_biz_id": args.merchant_biz_id}
if args.completed_at:
    message["completed_at"] = args.completed_at
if args.product:
    message["product"] = args.product

try:
    connection = pika.BlockingConnection(pika.URLParameters(args.amqp_url))
    channel = connection.channel()
    # Passive: only checks that the worker declared the queue; never (re)declare it here.
    channel.queue_declare(args.queue, passive=True)
    channel.confirm_delivery()  # basic_publish now waits for the broker's ack or nack
    channel.basic_publish(
        exchange="",  # the default exchange routes by queue name
        routing_key=args.queue,
        body=json.dumps(message),
        properties=pika.BasicProperties(content_type="application/json", delivery_mode=2),
        mandatory=True,  # no queue to route to: the message comes back (UnroutableError)
    )
    connection.close()
except pika.exceptions.ChannelClosedByBroker as e:
    sys.exit(f"publish.py: queue {args.queue!r} not usable: {e.reply_code} {e.reply_text} (is the worker running?)")
except pika.exceptions.UnroutableError:
    sys.exit(f"publish.py: message returned unroutable: no queue {args.queue!r}")
except pika.exceptions.NackError:
    sys.exit("publish.py: the broker refused the message (nack); publish it again later")
except pika.exceptions.AMQPConnectionError as e:
    sys.exit(f"publish.py: broker connection failed: {e!r}")
except pika.exceptions.AMQPError as e:
    sys.exit(f"publish.py: not published: {e!r}")
print(f"published {args.transaction_id} to {args.queue} (confirmed by the broker)")
