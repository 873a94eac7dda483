"""Servers: EC2 instances recovered through AWS Elastic Disaster Recovery (DRS) or, without the agent, from AMIs."""

from .instances import ServerHandler

__all__ = ["ServerHandler"]
