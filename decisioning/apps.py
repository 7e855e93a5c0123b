from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save


class DecisioningConfig(AppConfig):
    name = "decisioning"

    def ready(self) -> None:
        # A change made in this process shows in its next decision; other processes
        # see it within CATALOGUE_RECHECK_SECONDS.
        from customers.models import Product
        from decisioning.inputs import CATALOGUE_MODELS, catalogue_forget

        for model in CATALOGUE_MODELS:
            post_save.connect(catalogue_forget, sender=model, dispatch_uid=f"catalogue-forget-save-{model.__name__}")
            post_delete.connect(catalogue_forget, sender=model, dispatch_uid=f"catalogue-forget-del-{model.__name__}")
        m2m_changed.connect(
            catalogue_forget, sender=Product.complementary.through, dispatch_uid="catalogue-forget-complementary"
        )
