/* dora_api._samplebuf: the writable buffer send_output_raw hands out.
 *
 * A SampleBuffer exports the memory of the object it wraps (a view of a shared-memory
 * segment, or a bytearray) through the buffer protocol and counts the views it gave out,
 * so that send() can refuse while one is open, and refuses new ones (BufferError) once it
 * is invalidated (sent, or its handler dropped). Python 3.11 has no buffer protocol for
 * classes written in Python (3.12 has __buffer__), hence these few lines of C.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    Py_buffer base;      /* the wrapped memory, held while valid or viewed */
    int holding;         /* base is held */
    int valid;           /* new views allowed */
    Py_ssize_t exports;  /* views given out and not released */
} SampleBuffer;

static void release_base(SampleBuffer *self) {
    if (self->holding) {
        self->holding = 0;
        PyBuffer_Release(&self->base);
    }
}

static int SampleBuffer_init(SampleBuffer *self, PyObject *args, PyObject *kwds) {
    PyObject *memory;
    if (!PyArg_ParseTuple(args, "O", &memory)) return -1;
    if (self->exports > 0) {  /* views into the memory held now: it must stay */
        PyErr_SetString(PyExc_BufferError,
                        "this sample buffer has views open: it cannot be re-initialised");
        return -1;
    }
    release_base(self);
    if (PyObject_GetBuffer(memory, &self->base, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    self->holding = 1;
    self->valid = 1;
    self->exports = 0;
    return 0;
}

static void SampleBuffer_dealloc(SampleBuffer *self) {
    release_base(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int SampleBuffer_getbuffer(SampleBuffer *self, Py_buffer *view, int flags) {
    if (!self->valid || !self->holding) {
        PyErr_SetString(PyExc_BufferError,
                        "this sample was sent or dropped: its buffer cannot be viewed");
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->base.buf, self->base.len, 0,
                          flags) < 0)
        return -1;
    self->exports++;
    return 0;
}

static void SampleBuffer_releasebuffer(SampleBuffer *self, Py_buffer *view) {
    self->exports--;
    if (!self->valid && self->exports == 0) release_base(self);
}

static PyObject *SampleBuffer_invalidate(SampleBuffer *self, PyObject *unused) {
    self->valid = 0;
    if (self->exports == 0) release_base(self);
    Py_RETURN_NONE;
}

static PyObject *SampleBuffer_get_exports(SampleBuffer *self, void *closure) {
    return PyLong_FromSsize_t(self->exports);
}

static PyObject *SampleBuffer_get_valid(SampleBuffer *self, void *closure) {
    return PyBool_FromLong(self->valid);
}

static Py_ssize_t SampleBuffer_len(SampleBuffer *self) {
    return self->holding ? self->base.len : 0;
}

static PyMethodDef SampleBuffer_methods[] = {
    {"invalidate", (PyCFunction)SampleBuffer_invalidate, METH_NOARGS,
     "No new view from now on; the memory is let go once the open ones are released."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef SampleBuffer_getset[] = {
    {"exports", (getter)SampleBuffer_get_exports, NULL, "views open now", NULL},
    {"valid", (getter)SampleBuffer_get_valid, NULL, "new views allowed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyBufferProcs SampleBuffer_as_buffer = {
    (getbufferproc)SampleBuffer_getbuffer,
    (releasebufferproc)SampleBuffer_releasebuffer,
};

static PySequenceMethods SampleBuffer_as_sequence = {
    .sq_length = (lenfunc)SampleBuffer_len,
};

static PyTypeObject SampleBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dora_api._samplebuf.SampleBuffer",
    .tp_doc = "The writable memory of an output sample (send_output_raw).",
    .tp_basicsize = sizeof(SampleBuffer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SampleBuffer_init,
    .tp_dealloc = (destructor)SampleBuffer_dealloc,
    .tp_as_buffer = &SampleBuffer_as_buffer,
    .tp_as_sequence = &SampleBuffer_as_sequence,
    .tp_methods = SampleBuffer_methods,
    .tp_getset = SampleBuffer_getset,
};

static struct PyModuleDef samplebuf_module = {
    PyModuleDef_HEAD_INIT, "dora_api._samplebuf",
    "The buffer exporter behind send_output_raw.", -1, NULL,
};

PyMODINIT_FUNC PyInit__samplebuf(void) {
    if (PyType_Ready(&SampleBufferType) < 0) return NULL;
    PyObject *module = PyModule_Create(&samplebuf_module);
    if (module == NULL) return NULL;
    Py_INCREF(&SampleBufferType);
    if (PyModule_AddObject(module, "SampleBuffer", (PyObject *)&SampleBufferType) < 0) {
        Py_DECREF(&SampleBufferType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
