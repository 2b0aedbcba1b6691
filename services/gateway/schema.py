"""The GraphQL schema of ../shared/api/schema.graphql, resolved from the
three services: `schema` is what the gateway executes and validates against.

Its parts: types.py (enums and object types), viewer_types.py (the types
about who asks), inputs.py (input types and their conversion for RPC),
queries.py (the Query root), mutations.py (the Mutation root and who may
call each mutation), with proxies.py (the proxy mutations' resolvers),
reports.py (who sees which report, the reports' resolvers and mutations) and
outcomes.py (waiting until an ended consultation's outcome is applied).
"""
import graphene

from services.gateway.mutations import Mutation
from services.gateway.queries import Query

schema = graphene.Schema(query=Query, mutation=Mutation)
