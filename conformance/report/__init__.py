"""Report builders beyond pytest-html's defaults: the verdict banner, pictures, Allure labels."""
