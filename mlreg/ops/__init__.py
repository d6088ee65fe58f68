"""The operations that change a registry, one module each; the ``Registry`` facade calls them."""
