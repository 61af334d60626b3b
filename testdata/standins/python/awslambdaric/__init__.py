"""A stand-in for awslambdaric, the AWS Lambda runtime interface client for
Python, written for rtbuild's tests.

The published client (PyPI) cannot be reached from rtbuild's test machines,
so the test world packages this one as a wheel of the same name and serves
it where the catalog expects awslambdaric. It is started the same way
(``python -m awslambdaric HANDLER``) and speaks the same Runtime API, in pure
Python with the standard library only (Python 3.6+), but implements only
what rtbuild's tests need: handlers ``module.function`` (``dir/module.function``
for a module in a subdirectory), the context object's common attributes,
JSON results, and errors in Lambda's shape.
"""

__version__ = "0.0.0+rtbuild.standin"
