"""URLs of the DRS double, in moto's urls.py convention (url_bases, url_paths).

Every DRS operation is `POST /<OperationName>` except the tag operations on `/tags/{resourceArn}`.
"""

from drflow.sandbox.drs.responses import DrsResponse

url_bases = [r"https?://drs\.(.+)\.amazonaws\.com"]

url_paths = {
    "{0}/(?P<operation>[A-Z][A-Za-z]+)$": DrsResponse.dispatch,
    "{0}/tags/(?P<resourceArn>.+)$": DrsResponse.dispatch,
}
